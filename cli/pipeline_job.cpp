#include "cli/pipeline_job.hpp"

#include <cstdio>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow::cli {

stage preprocess_stage(const preprocess_plan& plan) {
    return {"preprocess", [&plan](batch& b) {
                b.data = plan.run(b.data, b.rows, b.scratch);
                b.sample = plan.output();
            }};
}

std::optional<pipeline_report> run_job(const dataset& input, const std::vector<stage>& stages, const batch_sink& sink,
                                       const pipeline_options& options, const std::atomic<bool>& stop) {
    try {
        return run_pipeline(input, stages, sink, options);
    } catch (const error& e) {
        if (!stop.load()) throw;
        fmt::print(stderr, "npyflow: {}; no output written\n", e.what());
        return std::nullopt;
    }
}

}  // namespace npyflow::cli
