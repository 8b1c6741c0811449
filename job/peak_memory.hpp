#pragma once
// The process's peak resident memory (VmHWM in /proc/self/status), for job summaries.

#include <cstdint>

namespace npyflow {

// Peak resident set size in bytes; 0 where /proc is not available.
std::uint64_t peak_resident_bytes();

}  // namespace npyflow
