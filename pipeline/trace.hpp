#pragma once
// A Chrome trace-event file (chrome://tracing, Perfetto) of a pipeline run: one span per batch
// per stage, on the thread that ran it, so the overlap of reading, preprocessing, inference
// and writing can be seen.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

namespace npyflow {

class trace_recorder {
public:
    using clock = std::chrono::steady_clock;

    void record(const std::string& stage, std::uint64_t batch, std::uint64_t first_row, std::uint64_t rows,
                clock::time_point start, clock::time_point end);
    // Writes the events as JSON (via a partial file, renamed when complete).
    void write(const std::filesystem::path& path) const;
    std::size_t events() const;

private:
    struct event {
        std::string stage;
        std::uint64_t batch, first_row, rows;
        std::int64_t start_ns, duration_ns;
        unsigned thread;
    };
    mutable std::mutex mutex_;
    std::vector<event> events_;
    std::unordered_map<std::thread::id, unsigned> threads_;
    clock::time_point origin_ = clock::now();
};

}  // namespace npyflow
