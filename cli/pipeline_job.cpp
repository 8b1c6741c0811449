#include "cli/pipeline_job.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdio>
#include <thread>

#include <fmt/format.h>

#include "cli/memory_budget.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/partial_file.hpp"

namespace npyflow::cli {

stage preprocess_stage(const preprocess_plan& plan) {
    return {"preprocess", [&plan](batch& b) {
                b.data = plan.run(b.data, b.rows, b.scratch);
                b.sample = plan.output();
            }};
}

// A whole number of at least 1, with a message a person can read (CLI11's PositiveNumber
// prints the range as "0.000000 to 1797693...").
const CLI::Validator at_least_one(
    [](std::string& text) -> std::string {
        try {
            std::size_t end = 0;
            const auto v = std::stoll(text, &end);
            if (end == text.size() && v >= 1) return "";
        } catch (const std::exception&) {
        }
        return "must be a whole number of at least 1, got '" + text + "'";
    },
    "INT>=1");

void add_pipeline_options(CLI::App* command, pipeline_options& options, std::uint64_t& max_memory) {
    command->add_option("--batch", options.batch_rows, "Rows per batch")->capture_default_str()->check(at_least_one);
    command->add_option("--threads", options.threads,
                        "Threads for the whole job, TBB and oneDNN together (default: every core this process may "
                        "run on; under mpirun, the cores of its machine shared among its ranks; more than the CPUs "
                        "is lowered to their number)")
        ->check(at_least_one);
    command->add_option("--prefetch", options.prefetch,
                        "Batches in flight, which bounds memory (default: twice the threads; never more than the "
                        "job's batches)")
        ->check(at_least_one);
    add_max_memory_option(command, max_memory);
}

void add_observer_options(CLI::App* command, job_observers& observers) {
    command->add_flag("--stats", observers.stats,
                      "Print each stage's batches, busy time and utilization, batches in flight, and the bottleneck");
    command->add_option("--trace", observers.trace,
                        "Write a Chrome trace-event file (open in Perfetto or chrome://tracing): one span per batch "
                        "per stage, per thread");
}

std::filesystem::path trace_path_for(const job_observers& observers, const rank_group& ranks) {
    auto path = observers.trace;
    if (ranks.distributed() && !path.empty()) {
        path.replace_filename(
            fmt::format("{}.rank{}{}", path.stem().string(), ranks.rank(), path.extension().string()));
    }
    return path;
}

void check_job_paths(job_paths& paths, const std::filesystem::path& output, const output_options& output_to,
                     const job_observers& observers, rank_group& ranks) {
    resumable_output::list_files(paths, output, output_to, ranks);
    if (!observers.trace.empty()) {
        const auto trace = trace_path_for(observers, ranks);
        paths.writes("--trace", trace);
        paths.writes("--trace", partial_file::partial_path_for(trace), true);
    }
    ranks.agree([&] { paths.check(); });
}

void add_batch_memory(memory_estimate& memory, const pipeline_options& options, const dataset& input,
                      const preprocess_plan& plan, std::uint64_t output_row_bytes) {
    const std::uint64_t rows = std::min<std::uint64_t>(options.batch_rows, std::max<std::uint64_t>(1, input.rows()));
    const std::uint64_t widest = std::max({input.row_bytes(), plan.output().bytes(), output_row_bytes}) * 2;
    memory.add("batches", batches_in_flight(options, input.rows()) + 1,
               rows * (input.row_bytes() + 2 * widest + 2 * output_row_bytes));
}

namespace {

// The machine's cores, and those of them this process may run on (a launcher's binding).
unsigned machine_cores() { return std::max(1u, std::thread::hardware_concurrency()); }

unsigned allowed_cpus() {
    cpu_set_t allowed;
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) > 0) {
        return std::min(machine_cores(), static_cast<unsigned>(CPU_COUNT(&allowed)));
    }
    return machine_cores();
}

}  // namespace

unsigned settle_threads(unsigned requested, const rank_group& ranks) {
    const unsigned cpus = allowed_cpus();
    if (requested == 0) return default_threads(ranks);
    if (requested <= cpus) return requested;
    if (ranks.rank() == 0) {
        fmt::print(stderr, "npyflow: warning: --threads {} is more than the {} CPU{} this process may run on; using {}\n",
                   requested, cpus, cpus == 1 ? "" : "s", cpus);
    }
    return cpus;
}

std::optional<pipeline_report> run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                                       pipeline_options options, const std::atomic<bool>& stop,
                                       const job_observers& observers, resumable_output& output, rank_group& ranks) {
    trace_recorder trace;
    const auto trace_path = trace_path_for(observers, ranks);
    if (!trace_path.empty()) options.trace = &trace;
    options.first_row = output.first_row();
    options.end_row = output.end_row();
    options.should_stop = [&] { return stop.load() || ranks.another_rank_failed(); };
    std::optional<pipeline_report> report;
    try {
        report = run_pipeline(input, stages, sink, options);
    } catch (const pipeline_stopped& e) {
        const std::string kept = output.abandon();
        if (!stop.load()) throw stopped_by_another_rank(fmt::format("stopped because another rank failed; {}", kept));
        if (ranks.distributed()) throw error(fmt::format("{}; {}", e.what(), kept));
        fmt::print(stderr, "npyflow: {}; {}\n", e.what(), kept);
        return std::nullopt;
    } catch (const error& e) {
        const std::string kept = output.abandon();
        throw error(fmt::format("{}\n{}", e.what(), kept));
    }
    if (!trace_path.empty()) {
        trace.write(trace_path);
        fmt::print(stderr, "npyflow: wrote {} trace events to {}\n", trace.events(), printable_path(trace_path));
    }
    if (observers.stats) {
        const std::string who = ranks.distributed() ? fmt::format("rank {} of {}:\n", ranks.rank(), ranks.size()) : "";
        fmt::print(stderr, "{}{}", who, format_stats(*report));
    }
    return report;
}

unsigned default_threads(const rank_group& ranks) {
    // A launcher that binds ranks (mpirun binds each to a core or a socket by default)
    // has already given this one its share of the cores.
    const unsigned cores = machine_cores(), bound = allowed_cpus();
    if (bound < cores) return bound;
    return std::max(1u, cores / static_cast<unsigned>(std::max(1, ranks.local_size())));
}

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

std::string format_flush_stats(double flush_seconds, const resumable_output& output) {
    return fmt::format("flush: {:.3f} s after the pipeline; during it, {} window{} of {} MiB sent to disk early, {:.3f} s "
                       "waiting for the disk off the pipeline's threads\n",
                       flush_seconds, output.early_windows(), output.early_windows() == 1 ? "" : "s",
                       background_writeback::default_window >> 20, output.writeback_wait_seconds());
}

}  // namespace npyflow::cli
