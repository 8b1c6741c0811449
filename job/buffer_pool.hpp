#pragma once
// Byte buffers handed to a consumer and given back when it is done with them (the Python
// module's numpy arrays give theirs back when freed), so that each batch reuses memory that is
// already mapped instead of faulting fresh pages in: a batch loader allocating each batch anew
// spent a third of its time in page faults and copies to fresh pages.

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace npyflow {

class buffer_pool {
public:
    // Keeps at most `keep` buffers waiting; more given back are freed.
    explicit buffer_pool(std::size_t keep) : keep_(keep) {}

    // A buffer of `bytes` bytes: a given-back one when there is one (its contents unspecified).
    std::vector<std::byte> take(std::size_t bytes) {
        std::vector<std::byte> b;
        {
            const std::lock_guard lock(mutex_);
            if (!free_.empty()) {
                b = std::move(free_.back());
                free_.pop_back();
            }
        }
        if (b.size() != bytes) b.resize(bytes);
        return b;
    }

    void give_back(std::vector<std::byte>&& b) {
        const std::lock_guard lock(mutex_);
        if (free_.size() < keep_) free_.push_back(std::move(b));
    }

    // Once nobody will take any more: frees those waiting, and those given back later, so
    // that a buffer a consumer keeps holds no others with it.
    void close() {
        const std::lock_guard lock(mutex_);
        free_.clear();
        keep_ = 0;
    }

private:
    std::mutex mutex_;
    std::vector<std::vector<std::byte>> free_;
    std::size_t keep_;
};

}  // namespace npyflow
