#pragma once
// What every streaming command (preprocess, score) does around the pipeline: the stage that
// applies the spec's preprocess ops, and running the job so that Ctrl-C ends it cleanly.

#include <atomic>
#include <filesystem>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>

#include "io/npy_writer.hpp"
#include "ops/preprocess_plan.hpp"
#include "pipeline/pipeline.hpp"

namespace npyflow::cli {

stage preprocess_stage(const preprocess_plan& plan);

// --batch, --threads and --prefetch, which every streaming command takes.
void add_pipeline_options(CLI::App* command, pipeline_options& options);

// --stats and --trace, which every streaming command takes.
struct job_observers {
    bool stats = false;
    std::filesystem::path trace;
};
void add_observer_options(CLI::App* command, job_observers& observers);

// Runs the pipeline; when it was stopped by a signal, says so and returns nothing (the
// caller then exits with exit_interrupted, its partial output removed by its writer).
// Writes the trace and prints the stage statistics when asked.
std::optional<pipeline_report> run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                                       pipeline_options options, const std::atomic<bool>& stop,
                                       const job_observers& observers);

// Flushes and renames the output into place, saying so on a terminal (it can take seconds);
// returns how long it took.
double commit_output(npy_writer& writer, bool on_terminal);

// "1 thread", "2 threads".
std::string threads_text(unsigned threads);

// The per-stage table --stats prints, naming the bottleneck.
std::string format_stats(const pipeline_report& report);

}  // namespace npyflow::cli
