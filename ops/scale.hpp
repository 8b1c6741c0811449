#pragma once
// scale: x * factor + offset, as two rounded steps in the sample's type (as numpy computes it).
// {"op": "scale", "factor": 0.00392156862745098, "offset": 0}

#include "npyflow/ops/op.hpp"

namespace npyflow {

class scale_op : public elementwise_op {
public:
    scale_op(double factor, double offset) : factor_(factor), offset_(offset) {}
    std::string_view name() const override { return "scale"; }
    void apply(std::span<float> values, std::size_t position) const override;
    void apply(std::span<double> values, std::size_t position) const override;

private:
    double factor_, offset_;
};

}  // namespace npyflow
