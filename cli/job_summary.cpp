#include "cli/job_summary.hpp"

#include <algorithm>
#include <cstdio>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "npyflow/io/background_writeback.hpp"
#include "npyflow/io/file_identity.hpp"

namespace npyflow::cli {

void print_observations(const job_report& report, const job_observers& observers, const rank_group& ranks) {
    if (!report.trace_file.empty()) {
        fmt::print(stderr, "npyflow: wrote {} trace events to {}\n", report.trace_events,
                   printable_path(report.trace_file));
    }
    if (observers.stats) {
        const std::string who = ranks.distributed() ? fmt::format("rank {} of {}:\n", ranks.rank(), ranks.size()) : "";
        fmt::print(stderr, "{}{}", who, format_stats(report.pipeline));
        fmt::print(stderr, "{}", format_flush_stats(report));
    }
}

void print_warning(const std::string& text) { fmt::print(stderr, "npyflow: warning: {}\n", text); }

std::string ranks_summary(rank_group& ranks, const pipeline_report& report) {
    const auto rows = ranks.gather(static_cast<double>(report.rows));
    const auto seconds = ranks.gather(report.seconds);
    if (!ranks.distributed()) return "";
    double total_rows = 0;
    std::vector<std::string> per_rank;
    for (std::size_t r = 0; r < rows.size(); ++r) {
        total_rows += rows[r];
        per_rank.push_back(fmt::format("{:.0f}", rows[r] / std::max(seconds[r], 1e-9)));
    }
    const auto slowest = static_cast<std::size_t>(std::max_element(seconds.begin(), seconds.end()) - seconds.begin());
    return fmt::format("{} ranks, {:.0f} rows in {:.3f} s: {:.0f} rows/s in total; per rank (rows/s): {}; slowest: "
                       "rank {} ({:.3f} s)",
                       ranks.size(), total_rows, seconds[slowest], total_rows / std::max(seconds[slowest], 1e-9),
                       fmt::join(per_rank, ", "), slowest, seconds[slowest]);
}

std::string resumed_text(const pipeline_report& report, std::uint64_t total_rows) {
    return report.first_row > 0 ? fmt::format("resumed at row {} of {}; ", report.first_row, total_rows) : "";
}

std::string threads_text(unsigned threads) { return fmt::format("{} thread{}", threads, threads == 1 ? "" : "s"); }

std::string format_stats(const pipeline_report& r) {
    std::string out = fmt::format("{:<12} {:>8} {:>9} {:>12}\n", "stage", "batches", "busy s", "utilization");
    const pipeline_report::value_type* bottleneck = nullptr;
    double worst = -1;
    for (const auto& s : r.stages) {
        // A serial stage can be busy at most the wall time; a parallel one, wall x threads.
        const double capacity = r.seconds * (s.serial ? 1.0 : static_cast<double>(r.threads));
        const double use = capacity > 0 ? s.busy_seconds / capacity : 0;
        out += fmt::format("{:<12} {:>8} {:>9.3f} {:>11.1f}%  ({})\n", s.name, s.batches, s.busy_seconds, 100 * use,
                           s.serial ? "serial" : "parallel, " + threads_text(r.threads));
        if (use > worst) {
            worst = use;
            bottleneck = &s;
        }
    }
    out += fmt::format("batches in flight: mean {:.1f}, max {} of prefetch {}\n", r.mean_in_flight, r.max_in_flight,
                       r.prefetch);
    if (bottleneck) {
        out += fmt::format("bottleneck: {} ({:.1f}% utilized)\n", bottleneck->name, 100 * worst);
    }
    return out;
}

std::string format_flush_stats(const job_report& report) {
    return fmt::format("flush: {:.3f} s after the pipeline; during it, {} window{} of {} MiB sent to disk early, {:.3f} s "
                       "waiting for the disk off the pipeline's threads\n",
                       report.flush_seconds, report.early_windows, report.early_windows == 1 ? "" : "s",
                       background_writeback::default_window >> 20, report.writeback_wait_seconds);
}

}  // namespace npyflow::cli
