#pragma once
// A list of ops compiled for one input sample type: shapes inferred and checked up front, then
// grouped into passes over memory. Consecutive elementwise ops, with a cast before and after
// them, fuse into one pass: values are loaded and converted once into a small tile that stays
// in L1 cache, every op runs over the tile, and the tile is converted and stored once.
// Each op still rounds as numpy does (no reassociation, no FMA contraction), so a fused
// pass gives the same values as running the ops one by one.

#include <array>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "npyflow/ops/op.hpp"

namespace npyflow {

class preprocess_plan {
public:
    // Throws npyflow::error naming the op and its position when an op cannot take its input.
    preprocess_plan(std::vector<op_ptr> ops, sample_desc input);
    ~preprocess_plan();
    preprocess_plan(preprocess_plan&&) noexcept;
    preprocess_plan& operator=(preprocess_plan&&) noexcept;

    const sample_desc& input() const { return input_; }
    const sample_desc& output() const { return output_; }
    // "cast(float32)+scale+normalize | reshape": passes separated by '|'.
    std::string describe() const;

    using scratch = std::array<std::vector<std::byte>, 2>;
    // Runs every pass over `rows` samples in src (rows * input().bytes() bytes, C order) and
    // returns the result: src itself when no pass moves data, else a view into `scratch`.
    std::span<const std::byte> run(std::span<const std::byte> src, std::size_t rows, scratch& buffers) const;

    struct pass;

private:
    std::vector<op_ptr> ops_;
    std::vector<std::unique_ptr<pass>> passes_;
    std::vector<std::string> description_;
    sample_desc input_, output_;
};

}  // namespace npyflow
