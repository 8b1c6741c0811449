#pragma once
// A batch: a contiguous range of dataset rows on its way through the stages. Batches are
// pooled and reused, so the buffers they own reach their full size once and then stay.

#include <cstdint>
#include <span>
#include <vector>

#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/ops/sample_desc.hpp"

namespace npyflow {

struct batch {
    std::uint64_t index = 0;      // the batch's place in input order
    std::uint64_t first_row = 0;  // in the dataset, and so in the output
    std::uint64_t rows = 0;

    // The rows as the latest stage left them: rows * sample.bytes() bytes, C order, little
    // endian. May point into the input mapping (zero copy) or into a buffer below.
    std::span<const std::byte> data;
    sample_desc sample;

    // Rows a stage could not process normally, for the sink to count and report (score: rows
    // whose network input held NaN or Inf), and the first of them. Zero for a new batch.
    std::uint64_t flagged_rows = 0;
    std::uint64_t first_flagged_row = 0;

    // Storage for the stages, reused from batch to batch.
    std::vector<std::byte> input_buffer;  // rows that needed conversion on reading
    preprocess_plan::scratch scratch;

    // The scratch buffer `data` does not point into: where a stage can write its result.
    std::vector<std::byte>& spare_scratch() { return data.data() == scratch[0].data() ? scratch[1] : scratch[0]; }
};

}  // namespace npyflow
