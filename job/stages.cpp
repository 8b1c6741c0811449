#include "npyflow/job/stages.hpp"

#include <cmath>

namespace npyflow {

stage preprocess_stage(const preprocess_plan& plan) {
    return {"preprocess", [&plan](batch& b) {
                b.data = plan.run(b.data, b.rows, b.scratch);
                b.sample = plan.output();
            }};
}

stage infer_stage(const network& net, output_kind kind, bool one_at_a_time) {
    return {"infer",
            [&net, kind](batch& b) {
                thread_local std::vector<float> outputs;
                const std::uint64_t values = net.output_values();
                outputs.resize(b.rows * values);
                const std::span<const float> src(reinterpret_cast<const float*>(b.data.data()), b.rows * net.input_values());
                b.flagged_rows = net.run(src, b.rows, outputs, b.first_row);
                if (b.flagged_rows > 0) {
                    std::uint64_t r = 0;
                    while (r + 1 < b.rows && !std::isnan(outputs[r * values])) ++r;
                    b.first_flagged_row = b.first_row + r;
                }
                auto& result = b.spare_scratch();
                apply_output_head(outputs, net.output_shape().back(), kind, net.last_layer(), result);
                b.data = result;
            },
            one_at_a_time};
}

}  // namespace npyflow
