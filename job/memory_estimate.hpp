#pragma once
// The memory guard: before a job starts, what it will hold at its peak is estimated from its
// parts (weights, activations per thread, batches in flight) and compared with what it may
// use (--max-memory; by default the memory available to this process, a cgroup's limit
// included, shared among the ranks on this machine). A job that would not fit is refused
// with the figures, instead of failing at the first batch or being killed by the OOM killer.

#include <cstdint>
#include <string>
#include <vector>

namespace npyflow {

// MemAvailable, or the cgroup's limit less its usage when that is less; 0 when unknown.
std::uint64_t available_memory();

// "1.5 GB", "340 MB".
std::string format_bytes(double bytes);

class memory_estimate {
public:
    // One part of the peak, as "what (count x size)": "activations (2 threads x 1.2 GB)".
    void add(std::string what, std::uint64_t count, std::uint64_t bytes_each);
    std::uint64_t total() const;

    // Throws npyflow::error with every part when the total exceeds the limit (max_memory, or
    // the default divided among `ranks_here` ranks); `advice` says what to lower.
    void check(std::uint64_t max_memory, int ranks_here, const std::string& advice) const;

private:
    struct part {
        std::string what;
        std::uint64_t count, bytes_each;
    };
    std::vector<part> parts_;
};

}  // namespace npyflow
