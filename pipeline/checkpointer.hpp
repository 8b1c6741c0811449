#pragma once
// Checkpoints a running job: every `interval` it makes the output written so far durable
// (sync_output), then records that progress in the journal. It runs on a thread of its
// own, so the pipeline never waits for the disk; the journal never claims rows that are
// not on disk, because the progress is taken before the sync.

#include <chrono>
#include <condition_variable>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>

#include "npyflow/pipeline/job_journal.hpp"

namespace npyflow {

class checkpointer {
public:
    checkpointer(job_journal& journal, std::function<void()> sync_output, std::chrono::milliseconds interval);
    ~checkpointer();  // stops the thread without a last checkpoint
    checkpointer(const checkpointer&) = delete;
    checkpointer& operator=(const checkpointer&) = delete;

    // From the sink, in input order, once the rows are written. Rethrows the error of a
    // checkpoint that failed (a full disk, say), which stops the job.
    void advance(journal_progress progress);

    // Stops the thread and checkpoints the latest progress now; returns what the journal
    // holds. Throws if that last checkpoint fails (the journal then holds the one before).
    const journal_progress& finish();

private:
    void run();
    void checkpoint();  // with mutex_ not held

    job_journal& journal_;
    std::function<void()> sync_output_;
    std::chrono::milliseconds interval_;
    std::mutex mutex_;
    std::condition_variable wake_;
    journal_progress latest_;  // guarded by mutex_
    bool stopping_ = false;     // guarded by mutex_
    std::exception_ptr failure_;  // guarded by mutex_
    std::mutex checkpoint_mutex_;  // one checkpoint at a time
    std::thread thread_;
};

}  // namespace npyflow
