#pragma once
// The order of a run's batches when they are shuffled (pipeline_options::batch_order): a
// seeded permutation that is the same on every machine and library, since it draws from
// its own generator (splitmix64) rather than std::shuffle, whose order the standard leaves
// to each library.

#include <cstdint>
#include <vector>

namespace npyflow {

// A permutation of [0, batches), the same for the same (batches, seed).
std::vector<std::uint64_t> shuffled_batch_order(std::uint64_t batches, std::uint64_t seed);

// Throws npyflow::error unless `order` holds each of [0, batches) exactly once.
void check_batch_order(const std::vector<std::uint64_t>& order, std::uint64_t batches);

}  // namespace npyflow
