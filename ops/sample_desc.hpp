#pragma once
// What one sample (one row of a dataset) looks like as it moves through the ops.

#include <cstdint>
#include <string>
#include <vector>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {

struct sample_desc {
    dtype type = dtype::float32;
    std::vector<std::uint64_t> shape;  // without the row axis

    std::uint64_t elements() const {
        std::uint64_t n = 1;
        for (auto d : shape) n *= d;
        return n;
    }
    std::uint64_t bytes() const { return elements() * itemsize(type); }
    std::string to_string() const { return std::string(name(type)) + " " + format_shape(shape); }
    bool operator==(const sample_desc&) const = default;
};

}  // namespace npyflow
