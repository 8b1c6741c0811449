#pragma once
// The journal of a long job, kept beside its partial output as "<output>.journal": what the
// job is (a fingerprint of its inputs, model and options) and how many output rows are
// durably written. A run killed at any moment, SIGKILL included, resumes from it.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace npyflow {

struct journal_progress {
    std::uint64_t rows = 0;  // output rows [0, rows) are durable
    // What the job's sink had accumulated over those rows (e.g. correct predictions).
    nlohmann::json sink_state = nlohmann::json::object();
};

class job_journal {
public:
    // "<output>.journal", or "<output>.rank<r>-of-<P>.journal" for each rank of a job run
    // by P MPI ranks.
    static std::filesystem::path path_for(const std::filesystem::path& output, int rank = 0, int ranks = 1);

    // The journal an earlier run left at this path, if any; throws naming the file when it
    // is not one npyflow wrote (`partial`, its output, is named in the advice).
    static std::optional<job_journal> read(const std::filesystem::path& path, const std::filesystem::path& partial);

    // A new journal (nothing is written until save()); rows before first_row are not this
    // journal's to record (another rank's share).
    job_journal(std::filesystem::path path, nlohmann::json fingerprint, std::uint64_t total_rows,
                std::uint64_t first_row = 0);

    const std::filesystem::path& path() const { return path_; }
    const nlohmann::json& fingerprint() const { return fingerprint_; }
    std::uint64_t total_rows() const { return total_rows_; }
    const journal_progress& progress() const { return progress_; }  // as last saved or read

    // Records progress durably: written to "<journal>.partial", flushed, renamed over the
    // journal (io/partial_file), so a crash leaves the old record or the new one, never a mix.
    void save(const journal_progress& progress);
    void remove();

private:
    std::filesystem::path path_;
    nlohmann::json fingerprint_;
    std::uint64_t total_rows_ = 0;
    journal_progress progress_;
};

// One line per difference between the fingerprint a journal recorded and the job's own:
// "input /data/a.npy: size 4000128 -> 2000128". Empty when they agree.
std::vector<std::string> fingerprint_differences(const nlohmann::json& recorded, const nlohmann::json& now);

}  // namespace npyflow
