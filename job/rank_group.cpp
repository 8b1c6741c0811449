#include "npyflow/job/rank_group.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace npyflow {

row_range rank_group::share_of(int r, std::uint64_t rows) const {
    return share_of_rows(static_cast<std::uint64_t>(r), static_cast<std::uint64_t>(size()), rows);
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
