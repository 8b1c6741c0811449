#pragma once
// What every streaming command (preprocess, score) does around the pipeline: the stage that
// applies the spec's preprocess ops, and running the job into a resumable output so that a
// failure or Ctrl-C ends it cleanly, keeping the rows already written.

#include <atomic>
#include <filesystem>
#include <optional>
#include <vector>

#include <CLI/CLI.hpp>

#include "cli/job_paths.hpp"
#include "cli/memory_budget.hpp"
#include "cli/resumable_output.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow::cli {

stage preprocess_stage(const preprocess_plan& plan);

// --batch, --threads, --prefetch and --max-memory, which every streaming command takes.
void add_pipeline_options(CLI::App* command, pipeline_options& options, std::uint64_t& max_memory);

// --stats and --trace, which every streaming command takes.
struct job_observers {
    bool stats = false;
    std::filesystem::path trace;
};
void add_observer_options(CLI::App* command, job_observers& observers);

// The trace file this rank writes: under MPI, "t.json" becomes "t.rank<r>.json".
std::filesystem::path trace_path_for(const job_observers& observers, const rank_group& ranks);

// Adds everything a streaming job writes (its output's files and the trace), then checks
// every path together (cli/job_paths.hpp), on every rank at once. Call before anything is
// opened for writing.
void check_job_paths(job_paths& paths, const std::filesystem::path& output, const output_options& output_to,
                     const job_observers& observers, rank_group& ranks);

// Adds to a job's memory estimate the batches in flight and what each holds: the rows as
// read, the preprocess plan's two scratch buffers (at the widest sample), and the output
// rows a later stage makes (output_row_bytes; 0 when the plan's output is the job's).
void add_batch_memory(memory_estimate& memory, const pipeline_options& options, const dataset& input,
                      const preprocess_plan& plan, std::uint64_t output_row_bytes = 0);

// --threads beyond the CPUs this process may use only adds threads that wait for a core (and
// an absurd value exhausts memory): it is lowered to that count, with a warning.
unsigned settle_threads(unsigned requested, const rank_group& ranks);

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

// The line --stats prints once the output is committed: the flush after the pipeline, and
// the writeback that went on during it.
std::string format_flush_stats(double flush_seconds, const resumable_output& output);

}  // namespace npyflow::cli
