#pragma once
// Reading a mapped file that another process truncated raises SIGBUS on the first page past
// the new end, which would kill the process. Mappings registered here are guarded instead:
// the faulting page is replaced by a page of zeros, the mapping is marked, and the reader
// carries on; whoever consumes the data checks the mark (truncated()) before trusting it.

#include <cstddef>

namespace npyflow {

class truncation_guard {
public:
    // Guards [begin, begin + length). When every slot is taken the mapping is unguarded
    // (a truncation then crashes as it would without the guard); guarded() says which.
    truncation_guard(const void* begin, std::size_t length);
    ~truncation_guard();
    truncation_guard(const truncation_guard&) = delete;
    truncation_guard& operator=(const truncation_guard&) = delete;

    bool guarded() const { return slot_ >= 0; }
    // Whether a page of the range was found missing since the guard was set.
    bool truncated() const;

private:
    int slot_ = -1;
};

}  // namespace npyflow
