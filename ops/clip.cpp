#include "npyflow/ops/clip.hpp"

#include <limits>

#include "npyflow/ops/kernel_clones.hpp"

namespace npyflow {
namespace {

template <typename T>
NPYFLOW_KERNEL void clip(std::span<T> values, T lo, T hi) {
    // Written with comparisons that are false for NaN, so NaN passes through unchanged.
    for (auto& v : values) v = v < lo ? lo : (v > hi ? hi : v);
}

}  // namespace

void clip_op::apply(std::span<float> values, std::size_t) const {
    clip(values, min_ ? static_cast<float>(*min_) : -std::numeric_limits<float>::infinity(),
         max_ ? static_cast<float>(*max_) : std::numeric_limits<float>::infinity());
}

void clip_op::apply(std::span<double> values, std::size_t) const {
    clip(values, min_.value_or(-std::numeric_limits<double>::infinity()),
         max_.value_or(std::numeric_limits<double>::infinity()));
}

}  // namespace npyflow
