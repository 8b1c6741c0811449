#pragma once
// normalize: (x - mean[c]) / std[c] per channel c along `axis` of the sample, as two rounded
// steps with a true division (as numpy computes it). One mean and std apply to every value.
// {"op": "normalize", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "axis": 0}

#include <vector>

#include "npyflow/ops/op.hpp"

namespace npyflow {

class normalize_op : public elementwise_op {
public:
    // axis may be negative (counted from the end), as numpy's axes are.
    normalize_op(std::vector<double> mean, std::vector<double> std, int axis);
    std::string_view name() const override { return "normalize"; }
    sample_desc infer(const sample_desc& in) const override;
    void prepare(const sample_desc& in) override;
    bool position_dependent() const override { return mean_.size() > 1; }
    void apply(std::span<float> values, std::size_t position) const override;
    void apply(std::span<double> values, std::size_t position) const override;

private:
    std::vector<double> mean_, std_;
    int axis_;
    // With several channels, the mean and std of every position of a sample, laid out once
    // so the loop over values stays a plain vectorizable loop.
    std::vector<float> mean_f_, std_f_;
    std::vector<double> mean_d_, std_d_;
};

}  // namespace npyflow
