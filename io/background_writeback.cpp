#include "npyflow/io/background_writeback.hpp"

#include <chrono>

namespace npyflow {

background_writeback::background_writeback(const partial_file& file, std::uint64_t first_byte, std::uint64_t window,
                                           unsigned lag)
    : file_(file), window_(window), lag_(lag), next_(first_byte / window * window), written_(first_byte) {
    thread_ = std::thread([this] { run(); });
}

background_writeback::~background_writeback() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    thread_.join();
}

void background_writeback::advance(std::uint64_t end) {
    bool window_done = false;
    {
        const std::lock_guard lock(mutex_);
        if (end <= written_) return;
        window_done = end / window_ != written_ / window_;
        written_ = end;
    }
    if (window_done) wake_.notify_one();
}

double background_writeback::wait_seconds() const {
    const std::lock_guard lock(mutex_);
    return wait_seconds_;
}

std::uint64_t background_writeback::windows() const {
    const std::lock_guard lock(mutex_);
    return windows_;
}

void background_writeback::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stopping_ || written_ >= next_ + window_; });
        if (stopping_) return;
        const std::uint64_t start = next_;
        next_ += window_;
        lock.unlock();
        // Writeback is an optimization: a failure here changes nothing the job relies on
        // (the flushes that make rows durable report their own errors).
        file_.start_writeback(start, window_);
        const auto before = std::chrono::steady_clock::now();
        const std::uint64_t behind = std::uint64_t{lag_} * window_;
        if (start >= behind) file_.wait_writeback(start - behind, window_);
        const double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - before).count();
        lock.lock();
        wait_seconds_ += waited;
        ++windows_;
    }
}

}  // namespace npyflow
