#pragma once
// A one-line progress bar on stderr, redrawn at most ten times a second:
//   [##########..........]  52%  260000/500000 rows  1.21 GB/s in  ETA 2s

#include <chrono>
#include <cstdint>

namespace npyflow {

class progress_bar {
public:
    // Draws only when `enabled` (the CLI enables it when stderr is a terminal). A resumed
    // job starts at first_row; the rate counts only rows done since.
    progress_bar(std::uint64_t total_rows, std::uint64_t bytes_per_row, bool enabled, std::uint64_t first_row = 0);
    void update(std::uint64_t rows_done);
    void finish();  // clears the line

private:
    using clock = std::chrono::steady_clock;
    std::uint64_t total_;
    std::uint64_t bytes_per_row_;
    std::uint64_t first_row_;
    bool enabled_;
    clock::time_point start_ = clock::now();
    clock::time_point last_draw_{};
    bool drawn_ = false;
};

}  // namespace npyflow
