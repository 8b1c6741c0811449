#pragma once
// A streaming job: the pipeline run over this rank's rows into a resumable output, from where
// the output starts (a resumed job's journal), so that a failure or a stop ends it cleanly,
// keeping the rows already written for --resume. docs/library.md.

#include <atomic>
#include <filesystem>
#include <vector>

#include "npyflow/job/job_paths.hpp"
#include "npyflow/job/memory_estimate.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/resumable_output.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow {

// A job of one process stopped by its stop flag (Ctrl-C): its message says what was kept and
// how to resume. Under MPI a stop is an error like any other (every rank must end).
class job_stopped : public error {
public:
    using error::error;
};

struct job_report {
    pipeline_report pipeline;
    std::filesystem::path trace_file;  // written when asked for; empty otherwise
    std::uint64_t trace_events = 0;
    // The commit: the flush to disk after the pipeline (the disk's figure, not the
    // pipeline's), and the output windows the background writeback sent during it.
    double flush_seconds = 0;
    std::uint64_t early_windows = 0;
    double writeback_wait_seconds = 0;
};

// Runs the pipeline over output.first_row() to output.end_row(), then commits the output (on
// every rank: resumable_output::commit). When the job fails or is stopped, the output is
// abandoned (its finished rows kept) and the error says so; a rank stopped because another
// failed throws stopped_by_another_rank. `trace`: a Chrome trace-event file to write (empty:
// none; per rank under MPI: "t.json" becomes "t.rank<r>.json").
job_report run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                   pipeline_options options, const std::atomic<bool>& stop, const std::filesystem::path& trace,
                   resumable_output& output, rank_group& ranks);

// The trace file this rank writes for `trace`.
std::filesystem::path trace_path_for(const std::filesystem::path& trace, const rank_group& ranks);

// Adds everything a streaming job writes (its output's files and the trace), then checks
// every path together (job/job_paths.hpp), on every rank at once. Call before anything is
// opened for writing.
void check_job_paths(job_paths& paths, const std::filesystem::path& output, const output_options& output_to,
                     const std::filesystem::path& trace, rank_group& ranks);

// Adds to a job's memory estimate the batches in flight and what each holds: the rows as
// read, the preprocess plan's two scratch buffers (at the widest sample), and the output
// rows a later stage makes (output_row_bytes; 0 when the plan's output is the job's).
void add_batch_memory(memory_estimate& memory, const pipeline_options& options, const dataset& input,
                      const preprocess_plan& plan, std::uint64_t output_row_bytes = 0);

}  // namespace npyflow
