#pragma once
// reshape: gives the sample a new shape with the same number of values; one dimension may
// be -1 and is then inferred. Moves no data.
// {"op": "reshape", "shape": [1, 28, 28]}

#include <cstdint>
#include <vector>

#include "npyflow/ops/op.hpp"

namespace npyflow {

class reshape_op : public layout_op {
public:
    explicit reshape_op(std::vector<std::int64_t> shape);
    std::string_view name() const override { return "reshape"; }
    sample_desc infer(const sample_desc& in) const override;
    bool moves_data() const override { return false; }
    void run(std::span<const std::byte>, std::span<std::byte>, std::size_t, const sample_desc&) const override {}

private:
    std::vector<std::int64_t> shape_;
};

}  // namespace npyflow
