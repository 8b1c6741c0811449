#pragma once
// A contiguous range of rows, [begin, end).

#include <cstdint>
#include <limits>

namespace npyflow {

struct row_range {
    std::uint64_t begin = 0;
    std::uint64_t end = std::numeric_limits<std::uint64_t>::max();
    std::uint64_t rows() const { return end - begin; }
};

}  // namespace npyflow
