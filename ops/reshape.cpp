#include "npyflow/ops/reshape.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {

reshape_op::reshape_op(std::vector<std::int64_t> shape) : shape_(std::move(shape)) {
    if (std::count(shape_.begin(), shape_.end(), -1) > 1) throw error("'shape' may hold at most one -1");
    for (auto d : shape_) {
        if (d < -1) throw error(fmt::format("'shape' has a negative dimension {}", d));
    }
}

sample_desc reshape_op::infer(const sample_desc& in) const {
    std::uint64_t known = 1;
    for (auto d : shape_) {
        if (d != -1) known *= static_cast<std::uint64_t>(d);
    }
    std::vector<std::uint64_t> out;
    for (auto d : shape_) {
        if (d != -1) {
            out.push_back(static_cast<std::uint64_t>(d));
        } else if (known == 0 || in.elements() % known != 0) {
            throw error(fmt::format("cannot infer -1 in shape [{}] for samples {}", fmt::join(shape_, ", "),
                                    in.to_string()));
        } else {
            out.push_back(in.elements() / known);
        }
    }
    const sample_desc result{in.type, out};
    if (result.elements() != in.elements()) {
        throw error(fmt::format("cannot reshape samples {} ({} values) to {} ({} values)", format_shape(in.shape),
                                in.elements(), format_shape(out), result.elements()));
    }
    return result;
}

}  // namespace npyflow
