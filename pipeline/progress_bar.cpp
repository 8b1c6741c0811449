#include "npyflow/pipeline/progress_bar.hpp"

#include <algorithm>
#include <cstdio>
#include <string>

#include <fmt/format.h>

namespace npyflow {

progress_bar::progress_bar(std::uint64_t total_rows, std::uint64_t bytes_per_row, bool enabled,
                           std::uint64_t first_row)
    : total_(total_rows), bytes_per_row_(bytes_per_row), first_row_(first_row), enabled_(enabled && total_rows > 0) {}

void progress_bar::update(std::uint64_t rows_done) {
    if (!enabled_) return;
    const auto now = clock::now();
    if (drawn_ && now - last_draw_ < std::chrono::milliseconds(100) && rows_done < total_) return;
    last_draw_ = now;
    drawn_ = true;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    const double fraction = static_cast<double>(rows_done) / static_cast<double>(total_);
    constexpr std::size_t width = 20;
    const auto filled = std::min(width, static_cast<std::size_t>(fraction * width));
    const double rate = elapsed > 0 ? static_cast<double>(rows_done - first_row_) / elapsed : 0;
    const double eta = rate > 0 ? static_cast<double>(total_ - rows_done) / rate : 0;
    fmt::print(stderr, "\r[{}{}] {:3.0f}%  {}/{} rows  {:.2f} GB/s in  ETA {:.0f}s ", std::string(filled, '#'),
               std::string(width - filled, '.'), fraction * 100, rows_done, total_,
               rate * static_cast<double>(bytes_per_row_) / 1e9, eta);
    std::fflush(stderr);
}

void progress_bar::finish() {
    if (!drawn_) return;
    fmt::print(stderr, "\r{:80}\r", "");
    std::fflush(stderr);
}

}  // namespace npyflow
