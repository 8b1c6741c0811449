#pragma once
// SIGINT and SIGTERM ask a running job to stop: the first sets a flag the pipeline checks
// between batches, so the job ends cleanly, checkpointing the rows it wrote for --resume;
// a second one ends the process at once (the journal still holds the last checkpoint).

#include <atomic>

namespace npyflow::cli {

const std::atomic<bool>& install_stop_handler();

// The exit code of a job that stopped on a signal, as shells report SIGINT.
inline constexpr int exit_interrupted = 130;

}  // namespace npyflow::cli
