#pragma once
// transpose: permutes the sample's axes, e.g. HWC to CHW with axes [2, 0, 1]; output axis i
// is input axis axes[i], as in numpy's transpose.
// {"op": "transpose", "axes": [2, 0, 1]}

#include <cstdint>
#include <vector>

#include "npyflow/ops/op.hpp"

namespace npyflow {

class transpose_op : public layout_op {
public:
    explicit transpose_op(std::vector<std::int64_t> axes);
    std::string_view name() const override { return "transpose"; }
    sample_desc infer(const sample_desc& in) const override;
    void run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows,
             const sample_desc& in) const override;

private:
    std::vector<std::int64_t> axes_;
};

}  // namespace npyflow
