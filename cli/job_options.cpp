#include "cli/job_options.hpp"

#include <cmath>
#include <string>

namespace npyflow::cli {
namespace {

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

}  // namespace

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
    command->add_option("--max-memory", max_memory,
                        "Refuse to start a job whose estimated peak memory exceeds this (bytes, or with a unit: 8GB, "
                        "512MB; default: the memory available to this process, a cgroup's limit included)")
        ->transform(CLI::AsSizeValue(true));
}

void add_observer_options(CLI::App* command, job_observers& observers) {
    command->add_flag("--stats", observers.stats,
                      "Print each stage's batches, busy time and utilization, batches in flight, and the bottleneck");
    command->add_option("--trace", observers.trace,
                        "Write a Chrome trace-event file (open in Perfetto or chrome://tracing): one span per batch "
                        "per stage, per thread");
}

void add_output_options(CLI::App* command, output_options& options) {
    command->add_flag("--resume", options.resume,
                      "Finish the job an earlier run of the same command left unfinished (killed, failed or "
                      "interrupted), from its OUT.journal; refused if the inputs, model, weights or options changed. "
                      "Without a journal, starts from the beginning");
    command->add_option("--checkpoint-every", options.checkpoint_seconds,
                        "Seconds between checkpoints: the output written so far is flushed to disk and recorded "
                        "in OUT.journal, off the pipeline's threads")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& text) -> std::string {
                // NaN passes a "> 0" range check, and a checkpoint every NaN seconds is no checkpoint.
                try {
                    std::size_t end = 0;
                    const double v = std::stod(text, &end);
                    if (end == text.size() && std::isfinite(v) && v >= 0.001 && v <= 86400) return "";
                } catch (const std::exception&) {
                }
                return "must be a number of seconds from 0.001 to 86400, got '" + text + "'";
            },
            "SECONDS"));
    command->add_flag("--output-shards", options.shards,
                      "Under mpirun: each rank writes its rows to a file of its own, OUT-<rank>-of-<ranks>.npy "
                      "(for ranks without a shared filesystem); 'npyflow concat' joins them");
}

}  // namespace npyflow::cli
