#include "npyflow/pipeline/trace.hpp"

#include <nlohmann/json.hpp>

#include "npyflow/io/partial_file.hpp"

namespace npyflow {

void trace_recorder::record(const std::string& stage, std::uint64_t batch, std::uint64_t first_row, std::uint64_t rows,
                            clock::time_point start, clock::time_point end) {
    const auto ns = [](clock::duration d) { return std::chrono::duration_cast<std::chrono::nanoseconds>(d).count(); };
    const std::lock_guard lock(mutex_);
    const auto [it, added] = threads_.try_emplace(std::this_thread::get_id(), static_cast<unsigned>(threads_.size()));
    events_.push_back({stage, batch, first_row, rows, ns(start - origin_), ns(end - start), it->second});
}

std::size_t trace_recorder::events() const {
    const std::lock_guard lock(mutex_);
    return events_.size();
}

void trace_recorder::write(const std::filesystem::path& path) const {
    const std::lock_guard lock(mutex_);
    auto list = nlohmann::json::array();
    for (unsigned t = 0; t < threads_.size(); ++t) {
        list.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", 1}, {"tid", t},
                        {"args", {{"name", "worker " + std::to_string(t)}}}});
    }
    for (const auto& e : events_) {
        list.push_back({{"name", e.stage}, {"cat", "stage"}, {"ph", "X"}, {"pid", 1}, {"tid", e.thread},
                        {"ts", static_cast<double>(e.start_ns) / 1e3}, {"dur", static_cast<double>(e.duration_ns) / 1e3},
                        {"args", {{"batch", e.batch}, {"first_row", e.first_row}, {"rows", e.rows}}}});
    }
    const std::string text = nlohmann::json{{"traceEvents", list}, {"displayTimeUnit", "ms"}}.dump();
    partial_file file(path);
    file.write_at(0, std::as_bytes(std::span(text)));
    file.commit();
}

}  // namespace npyflow
