#include "npyflow/ops/scale.hpp"

#include "npyflow/ops/kernel_clones.hpp"

namespace npyflow {
namespace {

template <typename T>
NPYFLOW_KERNEL void scale(std::span<T> values, T factor, T offset) {
    for (auto& v : values) v *= factor;
    // x + 0 would turn -0 into +0; numpy's x * f has no add to do that.
    if (offset != T{0}) {
        for (auto& v : values) v += offset;
    }
}

}  // namespace

void scale_op::apply(std::span<float> values, std::size_t) const {
    scale(values, static_cast<float>(factor_), static_cast<float>(offset_));
}

void scale_op::apply(std::span<double> values, std::size_t) const { scale(values, factor_, offset_); }

}  // namespace npyflow
