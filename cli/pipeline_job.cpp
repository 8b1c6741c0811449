#include "cli/pipeline_job.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow::cli {

stage preprocess_stage(const preprocess_plan& plan) {
    return {"preprocess", [&plan](batch& b) {
                b.data = plan.run(b.data, b.rows, b.scratch);
                b.sample = plan.output();
            }};
}

void add_pipeline_options(CLI::App* command, pipeline_options& options) {
    command->add_option("--batch", options.batch_rows, "Rows per batch")->capture_default_str()->check(CLI::PositiveNumber);
    command->add_option("--threads", options.threads,
                        "Threads for the whole job, TBB and oneDNN together (default: every core)");
    command->add_option("--prefetch", options.prefetch,
                        "Batches in flight, which bounds memory (default: twice the threads)");
}

void add_observer_options(CLI::App* command, job_observers& observers) {
    command->add_flag("--stats", observers.stats,
                      "Print each stage's batches, busy time and utilization, batches in flight, and the bottleneck");
    command->add_option("--trace", observers.trace,
                        "Write a Chrome trace-event file (open in Perfetto or chrome://tracing): one span per batch "
                        "per stage, per thread");
}

std::optional<pipeline_report> run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                                       pipeline_options options, const std::atomic<bool>& stop,
                                       const job_observers& observers, resumable_output& output) {
    trace_recorder trace;
    if (!observers.trace.empty()) options.trace = &trace;
    options.first_row = output.first_row();
    std::optional<pipeline_report> report;
    try {
        report = run_pipeline(input, stages, sink, options);
    } catch (const error& e) {
        const std::string kept = output.abandon();
        if (!stop.load()) throw error(fmt::format("{}\n{}", e.what(), kept));
        fmt::print(stderr, "npyflow: {}; {}\n", e.what(), kept);
        return std::nullopt;
    }
    if (!observers.trace.empty()) {
        trace.write(observers.trace);
        fmt::print(stderr, "npyflow: wrote {} trace events to {}\n", trace.events(), observers.trace.string());
    }
    if (observers.stats) fmt::print(stderr, "{}", format_stats(*report));
    return report;
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

}  // namespace npyflow::cli
