#pragma once
// Min, max, mean and NaN count of an array, computed in one streaming pass over its data
// in any order and any chunking, so a file larger than memory never needs to be held.

#include <cstdint>
#include <optional>
#include <span>

#include "npyflow/io/dtype.hpp"

namespace npyflow {

struct array_stats {
    std::uint64_t count = 0;      // elements seen
    std::uint64_t nan_count = 0;  // floating types only
    // Min and max of the non-NaN elements, as double (exact for every type but 64-bit
    // integers beyond 2^53); empty when there are none.
    std::optional<double> min, max;
    std::optional<double> mean;
};

class array_stats_accumulator {
public:
    array_stats_accumulator(dtype type, byte_order order) : type_(type), order_(order) {}

    // Adds whole elements as stored in a file (its byte order); chunks may come in any size
    // that is a multiple of the item size.
    void add(std::span<const std::byte> elements);
    array_stats result() const;

private:
    dtype type_;
    byte_order order_;
    std::uint64_t count_ = 0;
    std::uint64_t nan_count_ = 0;
    std::uint64_t finite_count_ = 0;  // non-NaN elements, the mean's denominator
    double min_ = 0, max_ = 0;
    long double sum_ = 0;
};

}  // namespace npyflow
