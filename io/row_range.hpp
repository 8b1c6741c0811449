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

// Share r of p of `rows` rows, [r*N/p, (r+1)*N/p): how a job's ranks split its rows. r * N
// is never computed, since it can overflow: with N = q * p + m, r * N / p = r * q + r * m / p,
// and r * m < p * p.
inline row_range share_of_rows(std::uint64_t r, std::uint64_t p, std::uint64_t rows) {
    const auto start = [&](std::uint64_t k) { return k * (rows / p) + k * (rows % p) / p; };
    return {start(r), start(r + 1)};
}

}  // namespace npyflow
