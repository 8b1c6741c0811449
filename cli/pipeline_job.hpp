#pragma once
// What every streaming command (preprocess, score) does around the pipeline: the stage that
// applies the spec's preprocess ops, and running the job so that Ctrl-C ends it cleanly.

#include <atomic>
#include <optional>
#include <vector>

#include "ops/preprocess_plan.hpp"
#include "pipeline/pipeline.hpp"

namespace npyflow::cli {

stage preprocess_stage(const preprocess_plan& plan);

// Runs the pipeline; when it was stopped by a signal, says so and returns nothing (the
// caller then exits with exit_interrupted, its partial output removed by its writer).
std::optional<pipeline_report> run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                                       const pipeline_options& options, const std::atomic<bool>& stop);

}  // namespace npyflow::cli
