#include "npyflow/pipeline/batch_order.hpp"

#include <numeric>
#include <utility>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

std::uint64_t splitmix64(std::uint64_t& state) {
    std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

// Uniform in [0, n), without modulo bias: draws below 2^64 mod n are drawn again, so that
// every remainder is left as often.
std::uint64_t below(std::uint64_t n, std::uint64_t& state) {
    const std::uint64_t threshold = -n % n;
    for (;;) {
        if (const std::uint64_t x = splitmix64(state); x >= threshold) return x % n;
    }
}

}  // namespace

std::vector<std::uint64_t> shuffled_batch_order(std::uint64_t batches, std::uint64_t seed) {
    std::vector<std::uint64_t> order(batches);
    std::iota(order.begin(), order.end(), std::uint64_t{0});
    std::uint64_t state = seed;
    for (std::uint64_t i = batches; i > 1; --i) std::swap(order[i - 1], order[below(i, state)]);
    return order;
}

void check_batch_order(const std::vector<std::uint64_t>& order, std::uint64_t batches) {
    if (order.size() != batches) {
        throw error(fmt::format("the batch order names {} batches; the run has {}", order.size(), batches));
    }
    std::vector<bool> seen(batches, false);
    for (const auto b : order) {
        if (b >= batches || seen[b]) {
            throw error(fmt::format("the batch order is not a permutation: batch {} is {}", b,
                                    b >= batches ? "past the run's batches" : "named twice"));
        }
        seen[b] = true;
    }
}

}  // namespace npyflow
