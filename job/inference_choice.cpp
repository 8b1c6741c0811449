#include "npyflow/job/inference_choice.hpp"

#include <chrono>
#include <cstring>
#include <vector>

#include <fmt/format.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

namespace npyflow {
namespace {

// Rows each run of the network takes while timing: a few of its micro-batches (64 rows at most).
constexpr std::uint64_t chunk_rows = 256;

using clock_type = std::chrono::steady_clock;

// Seconds for every chunk of rows through the network, the second of two passes (the first
// builds each thread's primitives), and the outputs.
double time_mode(const network& net, std::span<const float> rows, std::uint64_t count, unsigned threads, bool parallel,
                 std::uint64_t first_row, std::vector<float>& out) {
    out.assign(count * net.output_values(), 0.0f);
    const std::uint64_t chunks = (count + chunk_rows - 1) / chunk_rows;
    auto run_chunk = [&](std::uint64_t c) {
        const std::uint64_t first = c * chunk_rows, n = std::min(chunk_rows, count - first);
        net.run(rows.subspan(first * net.input_values(), n * net.input_values()), n,
                std::span(out).subspan(first * net.output_values(), n * net.output_values()), first_row + first);
    };
    tbb::task_arena arena(static_cast<int>(threads));
    double seconds = 0;
    for (int pass = 0; pass < 2; ++pass) {
        const auto start = clock_type::now();
        if (parallel) {
            for (std::uint64_t c = 0; c < chunks; ++c) run_chunk(c);  // one at a time, OpenMP inside
        } else {
            arena.execute([&] { tbb::parallel_for(std::uint64_t{0}, chunks, run_chunk); });
        }
        seconds = std::chrono::duration<double>(clock_type::now() - start).count();
    }
    return seconds;
}

std::string rate(double rows_per_second) {
    return rows_per_second >= 1e6   ? fmt::format("{:.2f}M", rows_per_second / 1e6)
           : rows_per_second >= 1e3 ? fmt::format("{:.1f}k", rows_per_second / 1e3)
                                    : fmt::format("{:.0f}", rows_per_second);
}

}  // namespace

std::uint64_t inference_timing_rows(unsigned threads) { return 4 * chunk_rows * threads; }

inference_choice choose_inference(const network& streams, const network& parallel, std::span<const float> rows,
                                  std::uint64_t count, unsigned threads, std::uint64_t first_row) {
    if (threads < 2) return {false, "auto: one thread, the two are the same"};
    if (count < inference_timing_rows(threads)) return {false, "auto: too few rows to time"};
    std::vector<float> streams_out, parallel_out;
    const double s = time_mode(streams, rows, count, threads, false, first_row, streams_out);
    const double p = time_mode(parallel, rows, count, threads, true, first_row, parallel_out);
    const double streams_rate = double(count) / std::max(s, 1e-9), parallel_rate = double(count) / std::max(p, 1e-9);
    if (parallel_rate <= streams_rate) {
        return {false, fmt::format("auto: {} rows/s against {} in parallel", rate(streams_rate), rate(parallel_rate))};
    }
    if (std::memcmp(streams_out.data(), parallel_out.data(), streams_out.size() * sizeof(float)) != 0) {
        return {false, fmt::format("auto: parallel was faster, {} rows/s against {}, but its last bits differ from "
                                   "streams' on this machine",
                                   rate(parallel_rate), rate(streams_rate))};
    }
    return {true, fmt::format("auto: {} rows/s against {} in streams", rate(parallel_rate), rate(streams_rate))};
}

}  // namespace npyflow
