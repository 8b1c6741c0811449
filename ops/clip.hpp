#pragma once
// clip: limits values to [min, max] (either may be left out); NaN stays NaN, as in np.clip.
// {"op": "clip", "min": 0, "max": 1}

#include <optional>

#include "npyflow/ops/op.hpp"

namespace npyflow {

class clip_op : public elementwise_op {
public:
    clip_op(std::optional<double> min, std::optional<double> max) : min_(min), max_(max) {}
    std::string_view name() const override { return "clip"; }
    void apply(std::span<float> values, std::size_t position) const override;
    void apply(std::span<double> values, std::size_t position) const override;

private:
    std::optional<double> min_, max_;
};

}  // namespace npyflow
