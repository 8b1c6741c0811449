#pragma once
// Reads a small text file (a spec, a journal) whole, refusing what would hang or exhaust
// memory: anything that is not a regular file (a device such as /dev/zero, a FIFO, a pipe
// from the shell's <(...), which could also not be read again to check it on --resume)
// and files over a size limit.

#include <cstdint>
#include <filesystem>
#include <string>

namespace npyflow {

inline constexpr std::uint64_t small_file_limit = 16 << 20;

// Throws npyflow::error naming the file (`what` says what it is meant to be: "spec").
std::string read_small_file(const std::filesystem::path& path, const char* what,
                            std::uint64_t max_bytes = small_file_limit);

// The checks read_small_file makes before it opens the file, on their own.
void check_small_file(const std::filesystem::path& path, const char* what, std::uint64_t max_bytes = small_file_limit);

}  // namespace npyflow
