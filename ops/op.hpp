#pragma once
// The preprocessing op interfaces. Every op infers the sample it produces from the sample it
// gets (and says what is wrong if it cannot); its run function works on contiguous buffers
// the caller provides. preprocess_plan strings ops together and fuses elementwise ones.

#include <cstddef>
#include <memory>
#include <span>
#include <string_view>

#include "npyflow/ops/sample_desc.hpp"

namespace npyflow {

class op {
public:
    virtual ~op() = default;
    virtual std::string_view name() const = 0;
    // The sample this op produces from `in`; throws npyflow::error if it cannot take `in`.
    virtual sample_desc infer(const sample_desc& in) const = 0;
};

// Maps each value of a floating sample to one value of the same type, in place. Values are
// handed over in tiles; `position` is the index within the sample of the tile's first value.
class elementwise_op : public op {
public:
    sample_desc infer(const sample_desc& in) const override;  // floating in, same out
    // Called once with the input sample before any apply: per-position constants are laid out here.
    virtual void prepare(const sample_desc&) {}
    // Whether apply depends on `position`; if not, tiles may run across sample boundaries.
    virtual bool position_dependent() const { return false; }
    virtual void apply(std::span<float> values, std::size_t position) const = 0;
    virtual void apply(std::span<double> values, std::size_t position) const = 0;
};

// Rearranges or reinterprets whole samples: rows samples of in.bytes() each, src to dst.
class layout_op : public op {
public:
    // Reshape changes only the description: no data moves.
    virtual bool moves_data() const { return true; }
    virtual void run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows,
                     const sample_desc& in) const = 0;
};

using op_ptr = std::unique_ptr<op>;

}  // namespace npyflow
