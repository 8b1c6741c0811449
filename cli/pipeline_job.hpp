#pragma once
// What every streaming command (preprocess, score) does around the pipeline: the stage that
// applies the spec's preprocess ops, and running the job into a resumable output so that a
// failure or Ctrl-C ends it cleanly, keeping the rows already written.

#include <atomic>
#include <filesystem>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/resumable_output.hpp"
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

// Runs the pipeline over this rank's rows, from where the output starts (a resumed job's
// journal). When the job fails or is stopped, the output is abandoned (its finished rows kept
// for --resume) and the error says so. A job stopped by a signal returns nothing (the caller
// then exits with exit_interrupted), or, under MPI, fails. A rank stopped because another
// failed throws stopped_by_another_rank. Writes the trace and prints the stage statistics
// when asked (per rank under MPI: the trace file's name gets ".rank<r>").
std::optional<pipeline_report> run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                                       pipeline_options options, const std::atomic<bool>& stop,
                                       const job_observers& observers, resumable_output& output, rank_group& ranks);

// --threads when not given: the cores this process may run on when a launcher bound it,
// else the machine's cores shared among the ranks on it.
unsigned default_threads(const rank_group& ranks);

// Under MPI, one line for the whole job, from every rank's report (a collective step):
// rows, rows/s in total and per rank, and the slowest rank. Empty for one process.
std::string ranks_summary(rank_group& ranks, const pipeline_report& report);

// "resumed at row 1200 of 5000; " for a resumed job, else nothing: for summary lines.
std::string resumed_text(const pipeline_report& report, std::uint64_t total_rows);

// "1 thread", "2 threads".
std::string threads_text(unsigned threads);

// The per-stage table --stats prints, naming the bottleneck.
std::string format_stats(const pipeline_report& report);

}  // namespace npyflow::cli
