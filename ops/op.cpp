#include "npyflow/ops/op.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {

sample_desc elementwise_op::infer(const sample_desc& in) const {
    if (in.type != dtype::float32 && in.type != dtype::float64) {
        throw error(fmt::format("needs float32 or float64 input, got {}; put {{\"op\": \"cast\", \"dtype\": "
                                "\"float32\"}} before it",
                                npyflow::name(in.type)));
    }
    return in;
}

}  // namespace npyflow
