#include "npyflow/job/rank_group.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace npyflow {

row_range rank_group::share_of(int r, std::uint64_t rows) const {
    // r * N / P without computing r * N, which can overflow: with N = q * P + m,
    // r * N / P = r * q + r * m / P, and r * m < P * P.
    const auto p = static_cast<std::uint64_t>(size());
    const auto start = [&](std::uint64_t k) { return k * (rows / p) + k * (rows % p) / p; };
    return {start(static_cast<std::uint64_t>(r)), start(static_cast<std::uint64_t>(r) + 1)};
}

void rank_group::agree(const std::function<void()>& step) {
    if (!distributed()) return step();
    std::optional<std::string> mine;
    try {
        step();
    } catch (const std::exception& e) {
        mine = e.what();
    }
    if (auto first = first_failure(mine)) throw collective_error(*first);
}

bool rank_group::any(bool mine) {
    const auto all = gather(mine ? 1.0 : 0.0);
    return std::any_of(all.begin(), all.end(), [](double v) { return v > 0; });
}

void rank_group::require_one_process(const std::string& what) const {
    if (distributed()) {
        throw error(fmt::format("npyflow {} runs in one process, not across {} MPI ranks; run it without mpirun", what,
                                size()));
    }
}

}  // namespace npyflow
