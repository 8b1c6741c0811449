#pragma once
// cast: converts every value to another dtype, saturating when narrowing (saturate_cast.hpp).
// {"op": "cast", "dtype": "float32"}

#include "npyflow/ops/op.hpp"

namespace npyflow {

class cast_op : public op {
public:
    explicit cast_op(dtype to) : to_(to) {}
    std::string_view name() const override { return "cast"; }
    sample_desc infer(const sample_desc& in) const override { return {to_, in.shape}; }
    dtype to() const { return to_; }

    // Converts `count` values of type `from` at src into values of to() at dst.
    void run(dtype from, const std::byte* src, std::byte* dst, std::size_t count) const;

private:
    dtype to_;
};

}  // namespace npyflow
