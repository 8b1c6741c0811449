#pragma once
// What a resumed job must find unchanged, as one JSON object (job_journal compares two):
// its command and the options that shape its output, and for each input, spec, weights
// and labels file its size, modification time and a content hash (of an input's first
// 64 KiB, which holds its header; of every byte of the other files, which are small).
// The files a job reads while it runs (inputs, labels) are described again before its
// output is committed: a file rewritten in place under the job would mix old and new rows.

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace npyflow {

class job_fingerprint {
public:
    explicit job_fingerprint(const std::string& command);

    void add_option(const std::string& name, const nlohmann::json& value);
    // Inputs are read while the job runs.
    void add_inputs(const std::vector<std::filesystem::path>& inputs);
    // A file hashed whole; a directory (of weights) adds every file below it. `read_while_running`:
    // the job reads it batch by batch (labels), not once at the start (spec, weights).
    void add_file(const std::string& role, const std::filesystem::path& path, bool read_while_running = false);

    const nlohmann::json& entries() const { return entries_; }

    // One line per file that is no longer as described: "input 0 /d/a.npy: mtime "1.0" ->
    // "2.0"". Empty when none changed. Besides the fingerprint's fields, the inode and the
    // change time are compared (a rewrite that restores the mtime still changes the ctime).
    // changes_while_running: the files read while running only, before the commit;
    // changes_since_described: every file, once the spec and weights have been read.
    std::vector<std::string> changes_while_running() const { return changes(true); }
    std::vector<std::string> changes_since_described() const { return changes(false); }

private:
    struct described_file {
        std::string key;
        std::filesystem::path path;
        std::uint64_t hash_limit;
        bool read_while_running;
        std::string identity;  // inode and ctime when described
    };
    std::vector<std::string> changes(bool only_read_while_running) const;
    void describe(const std::string& key, const std::filesystem::path& path, std::uint64_t hash_limit,
                  bool read_while_running);

    nlohmann::json entries_ = nlohmann::json::object();
    std::vector<described_file> files_;
};

// Throws, naming what changed, when a file changed between its description and the end of
// the job's setup (the spec, weights and labels are read in between): the journal would
// otherwise describe other bytes than those the job used.
void throw_if_changed_while_read(const job_fingerprint& fingerprint);

}  // namespace npyflow
