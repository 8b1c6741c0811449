#include "npyflow/pipeline/job_journal.hpp"

#include <set>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/partial_file.hpp"
#include "npyflow/io/json_file.hpp"

namespace npyflow {
namespace {

constexpr int journal_version = 1;

// A count the journal records: an integer that fits, never a float cast (1e30) or a sign.
std::uint64_t count_in(const nlohmann::json& j, const char* key) {
    const auto& v = j.at(key);
    if (!v.is_number_unsigned()) throw error(fmt::format("'{}' is {}, not a row count", key, v.dump()));
    return v.get<std::uint64_t>();
}

}  // namespace

std::filesystem::path job_journal::path_for(const std::filesystem::path& output, int rank, int ranks) {
    auto path = output;
    path += ranks > 1 ? fmt::format(".rank{}-of-{}.journal", rank, ranks) : std::string(".journal");
    return path;
}

job_journal::job_journal(std::filesystem::path path, nlohmann::json fingerprint, std::uint64_t total_rows,
                         std::uint64_t first_row)
    : path_(std::move(path)),
      fingerprint_(fingerprint.is_null() ? nlohmann::json::object() : std::move(fingerprint)),
      total_rows_(total_rows) {
    progress_.rows = first_row;
}

std::optional<job_journal> job_journal::read(const std::filesystem::path& path, const std::filesystem::path& partial) {
    if (!file_kind(path)) return std::nullopt;
    try {
        const auto j = read_json_file(path, "journal");
        if (j.at("version") != journal_version) {
            throw error(fmt::format("version {} is not {}", j.at("version").dump(), journal_version));
        }
        if (!j.at("fingerprint").is_object() || !(j.at("sink_state").is_object() || j.at("sink_state").is_null())) {
            throw error("its fingerprint and sink_state must be objects");
        }
        job_journal journal(path, j.at("fingerprint"), count_in(j, "total_rows"));
        journal.progress_.rows = count_in(j, "rows_done");
        journal.progress_.sink_state = j.at("sink_state");
        if (journal.progress_.rows > journal.total_rows_) throw error("more rows done than the job has");
        return journal;
    } catch (const std::exception& e) {
        throw error(fmt::format("{}: not a journal npyflow can resume from ({}); delete it and {} to start over",
                                printable_path(path), e.what(), printable_path(partial)));
    }
}

void job_journal::save(const journal_progress& progress) {
    const nlohmann::json j = {{"version", journal_version},
                              {"total_rows", total_rows_},
                              {"rows_done", progress.rows},
                              {"sink_state", progress.sink_state},
                              {"fingerprint", fingerprint_}};
    // Written whole as "<journal>.partial" and renamed over the old one after an fsync.
    const std::string text = j.dump(1) + "\n";
    partial_file file(path_);
    file.write_at(0, std::as_bytes(std::span(text)));
    file.commit();
    progress_ = progress;
}

void job_journal::remove() {
    std::error_code ec;
    if (std::filesystem::remove(path_, ec)) sync_parent_directory(path_);
}

std::vector<std::string> fingerprint_differences(const nlohmann::json& recorded, const nlohmann::json& now) {
    std::set<std::string> keys;
    for (const auto& [key, value] : recorded.items()) keys.insert(key);
    for (const auto& [key, value] : now.items()) keys.insert(key);
    std::vector<std::string> lines;
    for (const auto& key : keys) {
        const bool before = recorded.contains(key), after = now.contains(key);
        if (!after) {
            lines.push_back(fmt::format("{}: part of the journaled job, but not of this one", key));
        } else if (!before) {
            lines.push_back(fmt::format("{}: not part of the journaled job", key));
        } else if (recorded[key] != now[key]) {
            const auto& a = recorded[key];
            const auto& b = now[key];
            std::vector<std::string> changes;
            if (a.is_object() && b.is_object()) {
                for (const auto& [field, value] : a.items()) {
                    if (!b.contains(field) || b[field] != value) {
                        changes.push_back(fmt::format("{} {} -> {}", field, value.dump(),
                                                      b.contains(field) ? b[field].dump() : "none"));
                    }
                }
            } else {
                changes.push_back(fmt::format("{} -> {}", a.dump(), b.dump()));
            }
            lines.push_back(fmt::format("{}: {}", key, fmt::join(changes, ", ")));
        }
    }
    return lines;
}

}  // namespace npyflow
