#include "npyflow/pipeline/checkpointer.hpp"

namespace npyflow {

checkpointer::checkpointer(job_journal& journal, std::function<void()> sync_output,
                           std::chrono::milliseconds interval)
    : journal_(journal), sync_output_(std::move(sync_output)), interval_(interval), latest_(journal.progress()) {
    thread_ = std::thread([this] { run(); });
}

checkpointer::~checkpointer() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

void checkpointer::advance(journal_progress progress) {
    const std::lock_guard lock(mutex_);
    if (failure_) std::rethrow_exception(failure_);
    latest_ = std::move(progress);
}

void checkpointer::run() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
        wake_.wait_for(lock, interval_, [this] { return stopping_; });
        if (stopping_ || failure_) continue;
        lock.unlock();
        try {
            checkpoint();
        } catch (...) {
            lock.lock();
            failure_ = std::current_exception();
            continue;
        }
        lock.lock();
    }
}

void checkpointer::checkpoint() {
    const std::lock_guard one_at_a_time(checkpoint_mutex_);
    journal_progress progress;
    {
        const std::lock_guard lock(mutex_);
        progress = latest_;
    }
    if (progress.rows == journal_.progress().rows) return;
    // Every row the sink reported before we took `progress` was written before the sync.
    sync_output_();
    journal_.save(progress);
}

const journal_progress& checkpointer::finish() {
    {
        const std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
    checkpoint();
    return journal_.progress();
}

}  // namespace npyflow
