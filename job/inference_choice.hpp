#pragma once
// --inference auto: how oneDNN's threads share the cores with the pipeline, decided by
// timing the job's own first rows both ways (docs/architecture.md): per-thread streams
// (every thread runs its own single-threaded oneDNN stream on its own batch) against one
// batch at a time with oneDNN's OpenMP on every thread. The faster is kept, unless the two
// give different bits for the same rows, where streams (the same bits for any --threads) is.

#include <cstdint>
#include <span>
#include <string>

#include "npyflow/nn/network.hpp"

namespace npyflow {

// How oneDNN's threads share the cores with the pipeline's (docs/architecture.md).
enum class inference_mode { streams, parallel, auto_ };

struct inference_choice {
    bool parallel = false;
    std::string reason;  // for the summary: "auto: 41.2k rows/s against 38.0k in parallel"
};

// rows: preprocessed network inputs (count of them) to time on, the first being the job's
// row first_row (for messages); threads: the job's.
inference_choice choose_inference(const network& streams, const network& parallel, std::span<const float> rows,
                                  std::uint64_t count, unsigned threads, std::uint64_t first_row);

// How many rows choose_inference needs to time both ways fairly; fewer and it keeps streams.
std::uint64_t inference_timing_rows(unsigned threads);

}  // namespace npyflow
