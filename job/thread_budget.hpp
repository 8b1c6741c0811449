#pragma once
// How many threads a job runs when it is not told: the cores this process may run on when a
// launcher bound it, else the machine's cores shared among the ranks on it.

#include <functional>
#include <string>

#include "npyflow/job/rank_group.hpp"

namespace npyflow {

// The CPUs this process may run on (its affinity mask, at most the machine's cores).
unsigned usable_cpus();

unsigned default_threads(const rank_group& ranks);

// A job's thread count: default_threads() for 0; a count beyond the CPUs this process may use
// only adds threads that wait for a core (and an absurd one exhausts memory), so it is lowered
// to their number, with a warning (from rank 0).
unsigned settle_threads(unsigned requested, const rank_group& ranks,
                        const std::function<void(const std::string&)>& warn);

}  // namespace npyflow
