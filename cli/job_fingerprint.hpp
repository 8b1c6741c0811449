#pragma once
// What a resumed job must find unchanged, as one JSON object (job_journal compares two):
// its command and the options that shape its output, and for each input, spec, weights
// and labels file its size, modification time and a content hash (of an input's first
// 64 KiB, which holds its header; of every byte of the other files, which are small).

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace npyflow::cli {

class job_fingerprint {
public:
    explicit job_fingerprint(const std::string& command);

    void add_option(const std::string& name, const nlohmann::json& value);
    void add_inputs(const std::vector<std::filesystem::path>& inputs);
    // A file hashed whole; a directory (of weights) adds every file below it.
    void add_file(const std::string& role, const std::filesystem::path& path);

    const nlohmann::json& entries() const { return entries_; }

private:
    nlohmann::json entries_ = nlohmann::json::object();
};

}  // namespace npyflow::cli
