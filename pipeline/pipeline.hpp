#pragma once
// Streams a dataset through stages in batches on a oneTBB flow graph:
//
//   source (serial) -> limiter -> read -> stage... (parallel across batches)
//          -> sequencer -> write (serial, input order) -> back to the limiter
//
// write, the last stage, calls the caller's batch_sink. At most `prefetch` batches are in
// flight, so memory is bounded whatever the dataset's size; stages run on any batch as soon
// as it is read, and input order is restored only before write, so one slow batch does not
// hold the others up. The source advises the kernel to read ahead; write releases the input
// it has consumed.

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "npyflow/io/error.hpp"
#include "npyflow/pipeline/batch.hpp"
#include "npyflow/pipeline/dataset.hpp"
#include "npyflow/pipeline/trace.hpp"

namespace npyflow {

struct stage {
    std::string name;
    // Takes b.data (rows of b.sample) and leaves its result in b.data and b.sample.
    std::function<void(batch& b)> run;
    // One batch at a time (for a stage that parallelizes inside itself), else any number at once.
    bool serial = false;
};

using batch_sink = std::function<void(const batch& b)>;

struct pipeline_options {
    std::uint64_t batch_rows = 1024;
    unsigned threads = 0;   // 0: every core
    unsigned prefetch = 0;  // batches in flight; 0: twice the threads
    bool progress = false;  // a progress bar on stderr
    // The rows to run: [first_row, end_row) clipped to the dataset. A resumed job starts
    // past the rows already done; an MPI rank ends where the next rank's share begins.
    std::uint64_t first_row = 0;
    std::uint64_t end_row = UINT64_MAX;
    // The order the run's batches go in, as batch numbers counted from first_row: a
    // permutation of [0, batches) (a shuffled epoch, pipeline/batch_order.hpp); empty for
    // input order. Batches still reach the sink in this order, whatever the threads.
    std::vector<std::uint64_t> batch_order = {};
    // Called before each batch is started, one call at a time; when it returns true the run
    // stops and throws pipeline_stopped.
    std::function<bool()> should_stop = nullptr;
    // When set, every stage's span for every batch is recorded here.
    trace_recorder* trace = nullptr;
};

struct stage_report {
    std::string name;
    double busy_seconds = 0;  // summed over threads
    std::uint64_t batches = 0;
    bool serial = false;      // one batch at a time: its busy time is bounded by the wall time
};

struct pipeline_report {
    using value_type = stage_report;
    std::uint64_t first_row = 0;  // where this run started (options.first_row)
    std::uint64_t rows = 0;       // rows this run did
    std::uint64_t batches = 0;
    double seconds = 0;
    unsigned threads = 0;
    unsigned prefetch = 0;
    unsigned max_in_flight = 0;  // the most batches past the limiter at once: never above prefetch
    double mean_in_flight = 0;   // batches in flight, averaged over the sink's calls
    std::vector<stage_report> stages;  // "read", the given stages, "write" (the sink)
};

// Thrown when options.should_stop ended the run early.
class pipeline_stopped : public error {
public:
    using error::error;
};

// The threads a run uses (options.threads, or every core), and the batches it keeps in
// flight: options.prefetch (or twice the threads), but never more than the run's batches.
unsigned pipeline_threads(const pipeline_options& options);
unsigned batches_in_flight(const pipeline_options& options, std::uint64_t rows);

// Runs the whole dataset through the stages. An exception in any stage cancels the graph
// and is rethrown as npyflow::error naming the stage and the rows (file and range).
pipeline_report run_pipeline(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                             const pipeline_options& options);

}  // namespace npyflow
