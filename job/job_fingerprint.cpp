#include "npyflow/job/job_fingerprint.hpp"

#include <sys/stat.h>

#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/content_hash.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/pipeline/job_journal.hpp"

namespace npyflow {
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

// What a rewrite cannot hide: the inode (a file replaced by another) and the change time
// (which, unlike the mtime, no one can set back).
std::string identity_of(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return "gone";
    return fmt::format("inode {} ctime {}.{:09}", st.st_ino, st.st_ctim.tv_sec, st.st_ctim.tv_nsec);
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

void job_fingerprint::describe(const std::string& key, const std::filesystem::path& path, std::uint64_t hash_limit,
                               bool read_while_running) {
    const std::string identity = identity_of(path);
    entries_[key] = describe_file(path, hash_limit);
    files_.push_back({key, path, hash_limit, read_while_running, identity});
}

void job_fingerprint::add_inputs(const std::vector<std::filesystem::path>& inputs) {
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        describe(key_for(fmt::format("input {}", i), inputs[i]), inputs[i], input_hash_bytes, true);
    }
}

void job_fingerprint::add_file(const std::string& role, const std::filesystem::path& path, bool read_while_running) {
    const auto key = key_for(role, path);
    if (!std::filesystem::is_directory(path)) {
        describe(key, path, UINT64_MAX, read_while_running);
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

std::vector<std::string> job_fingerprint::changes(bool only_read_while_running) const {
    nlohmann::json then = nlohmann::json::object(), now = nlohmann::json::object();
    for (const auto& f : files_) {
        if (only_read_while_running && !f.read_while_running) continue;
        then[f.key] = entries_.at(f.key);
        then[f.key]["identity"] = f.identity;
        try {
            now[f.key] = describe_file(f.path, f.hash_limit);
            now[f.key]["identity"] = identity_of(f.path);
        } catch (const std::exception& e) {
            now[f.key] = {{"state", e.what()}};
        }
    }
    return fingerprint_differences(then, now);
}

void throw_if_changed_while_read(const job_fingerprint& fingerprint) {
    if (const auto changes = fingerprint.changes_since_described(); !changes.empty()) {
        throw error(fmt::format("a file changed while the job was reading it; run the job again. What changed:\n{}",
                                fmt::join(changes, "\n")));
    }
}

}  // namespace npyflow
