#pragma once
// The .npy output of a streaming command, journaled so that a run that was killed, failed
// or interrupted can be finished by the same command with --resume (docs/reliability.md).
//
//   OUT.partial   the rows written so far (io/npy_writer)
//   OUT.journal   which of them are durable, and a fingerprint of the job (job_journal)
//
// Checkpoints run every few seconds on their own thread. Without --resume, a journal left
// by an earlier run is an error that says how to resume or discard it.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "io/npy_writer.hpp"
#include "pipeline/batch.hpp"
#include "pipeline/checkpointer.hpp"
#include "pipeline/job_journal.hpp"

namespace npyflow::cli {

struct resume_options {
    bool resume = false;
    double checkpoint_seconds = 5;
};
void add_resume_options(CLI::App* command, resume_options& options);

class resumable_output {
public:
    // Starts the output, or continues it when options.resume and a journal with the same
    // fingerprint exists. Throws, saying what to do, when a journal is in the way or
    // records a different job.
    resumable_output(const std::filesystem::path& path, dtype type, std::vector<std::uint64_t> shape,
                     const nlohmann::json& fingerprint, const resume_options& options);
    ~resumable_output();  // without commit(): as abandon(), silently
    resumable_output(const resumable_output&) = delete;
    resumable_output& operator=(const resumable_output&) = delete;

    // The job's output was already complete (a run was killed after renaming it into place,
    // before removing its journal): nothing is left to do.
    bool already_complete() const { return !writer_; }
    // Where the pipeline starts: 0, or the rows the journal records.
    std::uint64_t first_row() const { return journal_->progress().rows; }
    // What the sink had accumulated over those rows ({} for a new job).
    const nlohmann::json& resumed_sink_state() const { return journal_->progress().sink_state; }

    // From the sink, in input order: writes a batch's rows and records the progress.
    void write(const batch& b, nlohmann::json sink_state = nlohmann::json::object());

    // Once every row is written: a last checkpoint, the rename into place, the journal
    // removed. Returns the seconds it took (mostly the flush to disk).
    double commit(bool on_terminal);

    // The job failed or was stopped: checkpoints what was written and keeps the partial file
    // and journal when they hold any rows. Returns a sentence saying what is kept and how
    // to resume.
    std::string abandon();

private:
    std::filesystem::path path_;
    std::optional<job_journal> journal_;
    std::unique_ptr<npy_writer> writer_;
    std::unique_ptr<checkpointer> checkpoints_;
    bool done_ = false;  // committed or abandoned
};

}  // namespace npyflow::cli
