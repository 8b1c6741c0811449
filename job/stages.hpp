#pragma once
// The library's pipeline stages (pipeline/pipeline.hpp): a program's own stages go beside
// them in the same list.

#include "npyflow/job/output_head.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/ops/preprocess_plan.hpp"
#include "npyflow/pipeline/pipeline.hpp"

namespace npyflow {

// Applies a preprocess plan to each batch's rows. The plan must outlive the pipeline.
stage preprocess_stage(const preprocess_plan& plan);

// Runs the network on each batch (float32 samples, as the network takes them) and leaves
// `kind`'s rows in the batch. Rows whose input held NaN or Inf are counted in the batch's
// flagged_rows (their outputs are NaN), the first of them in first_flagged_row.
// `one_at_a_time`: for a network built with OpenMP threads of its own (one batch at a time
// uses every core), else any number of batches run at once. The network must outlive the
// pipeline.
stage infer_stage(const network& net, output_kind kind, bool one_at_a_time = false);

}  // namespace npyflow
