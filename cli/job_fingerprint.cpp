#include "cli/job_fingerprint.hpp"

#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "io/content_hash.hpp"
#include "io/file_identity.hpp"
#include "io/mapped_file.hpp"
#include "pipeline/job_journal.hpp"

namespace npyflow::cli {
namespace {

constexpr std::uint64_t input_hash_bytes = 64 << 10;

nlohmann::json describe_file(const std::filesystem::path& path, std::uint64_t hash_limit) {
    const mapped_file file(path);
    const auto bytes = file.bytes().first(std::min<std::uint64_t>(file.size(), hash_limit));
    struct stat st {};
    (void)::stat(path.c_str(), &st);  // the mapping above proved the file is there
    return {{"size", file.size()},
            {"mtime", fmt::format("{}.{:09}", st.st_mtim.tv_sec, st.st_mtim.tv_nsec)},
            {"hash", fmt::format("{:016x}", content_hash(bytes))}};
}

// The key of a file's entry; paths as printable text, since JSON holds UTF-8 only.
std::string key_for(const std::string& role, const std::filesystem::path& path) {
    return role + " " + printable_path(std::filesystem::absolute(path));
}

}  // namespace

job_fingerprint::job_fingerprint(const std::string& command) { entries_["command"] = command; }

void job_fingerprint::add_option(const std::string& name, const nlohmann::json& value) {
    entries_["option " + name] = value;
}

void job_fingerprint::add_inputs(const std::vector<std::filesystem::path>& inputs) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        const auto key = key_for(fmt::format("input {}", i), inputs[i]);
        entries_[key] = describe_file(inputs[i], input_hash_bytes);
        watched_.push_back({key, inputs[i], input_hash_bytes});
    }
}

void job_fingerprint::add_file(const std::string& role, const std::filesystem::path& path, bool read_while_running) {
    const auto key = key_for(role, path);
    if (!std::filesystem::is_directory(path)) {
        entries_[key] = describe_file(path, UINT64_MAX);
        if (read_while_running) watched_.push_back({key, path, UINT64_MAX});
        return;
    }
    std::vector<std::filesystem::path> files;
    for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
        if (entry.is_regular_file()) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
    entries_[key] = {{"files", files.size()}};
    for (const auto& file : files) add_file(role, file, read_while_running);
}

std::vector<std::string> job_fingerprint::changes_while_running() const {
    nlohmann::json then = nlohmann::json::object(), now = nlohmann::json::object();
    for (const auto& w : watched_) {
        then[w.key] = entries_.at(w.key);
        try {
            now[w.key] = describe_file(w.path, w.hash_limit);
        } catch (const std::exception& e) {
            now[w.key] = {{"state", e.what()}};
        }
    }
    return fingerprint_differences(then, now);
}

}  // namespace npyflow::cli
