#include "npyflow/job/thread_budget.hpp"

#include <sched.h>

#include <algorithm>
#include <thread>

#include <fmt/format.h>

namespace npyflow {
namespace {

unsigned machine_cores() { return std::max(1u, std::thread::hardware_concurrency()); }

}  // namespace

unsigned usable_cpus() {
    cpu_set_t allowed;
    if (::sched_getaffinity(0, sizeof(allowed), &allowed) == 0 && CPU_COUNT(&allowed) > 0) {
        return std::min(machine_cores(), static_cast<unsigned>(CPU_COUNT(&allowed)));
    }
    return machine_cores();
}

unsigned default_threads(const rank_group& ranks) {
    // A launcher that binds ranks (mpirun binds each to a core or a socket by default)
    // has already given this one its share of the cores.
    const unsigned cores = machine_cores(), bound = usable_cpus();
    if (bound < cores) return bound;
    return std::max(1u, cores / static_cast<unsigned>(std::max(1, ranks.local_size())));
}

unsigned settle_threads(unsigned requested, const rank_group& ranks,
                        const std::function<void(const std::string&)>& warn) {
    const unsigned cpus = usable_cpus();
    if (requested == 0) return default_threads(ranks);
    if (requested <= cpus) return requested;
    if (ranks.rank() == 0 && warn) {
        warn(fmt::format("--threads {} is more than the {} CPU{} this process may run on; using {}", requested, cpus,
                         cpus == 1 ? "" : "s", cpus));
    }
    return cpus;
}

}  // namespace npyflow
