#include "pipeline/job_journal.hpp"

#include <fstream>
#include <set>
#include <sstream>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/partial_file.hpp"

namespace npyflow {
namespace {

constexpr int journal_version = 1;

}  // namespace

std::filesystem::path job_journal::path_for(const std::filesystem::path& output, int rank, int ranks) {
    auto path = output;
    path += ranks > 1 ? fmt::format(".rank{}-of-{}.journal", rank, ranks) : std::string(".journal");
    return path;
}

job_journal::job_journal(std::filesystem::path path, nlohmann::json fingerprint, std::uint64_t total_rows,
                         std::uint64_t first_row)
    : path_(std::move(path)), fingerprint_(std::move(fingerprint)), total_rows_(total_rows) {
    progress_.rows = first_row;
}

std::optional<job_journal> job_journal::read(const std::filesystem::path& path, const std::filesystem::path& partial) {
    std::ifstream in(path);
    if (!in) return std::nullopt;
    std::stringstream text;
    text << in.rdbuf();
    try {
        const auto j = nlohmann::json::parse(text.str());
        if (j.at("version").get<int>() != journal_version) {
            throw error(fmt::format("version {} is not {}", j.at("version").dump(), journal_version));
        }
        job_journal journal(path, j.at("fingerprint"), j.at("total_rows").get<std::uint64_t>());
        journal.progress_.rows = j.at("rows_done").get<std::uint64_t>();
        journal.progress_.sink_state = j.at("sink_state");
        if (journal.progress_.rows > journal.total_rows_) throw error("more rows done than the job has");
        return journal;
    } catch (const std::exception& e) {
        throw error(fmt::format("{}: not a journal npyflow can resume from ({}); delete it and {} to start over",
                                path.string(), e.what(), partial.string()));
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
