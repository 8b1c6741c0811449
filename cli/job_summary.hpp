#pragma once
// What the streaming commands print about a job once it has run: the summary line's parts,
// --stats' table, and where --trace went.

#include <cstdint>
#include <string>

#include "cli/job_options.hpp"
#include "npyflow/job/rank_group.hpp"
#include "npyflow/job/run_job.hpp"

namespace npyflow::cli {

// The trace file written and, with --stats, the per-stage table (per rank under MPI) and the
// commit's figures.
void print_observations(const job_report& report, const job_observers& observers, const rank_group& ranks);

// "npyflow: warning: ..." on stderr: a job's warn callback.
void print_warning(const std::string& text);

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
std::string format_flush_stats(const job_report& report);

}  // namespace npyflow::cli
