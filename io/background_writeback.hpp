#pragma once
// Writes an output to disk while it is still being produced, so that a job's final flush
// has only the last window left and the job takes as long as the larger of its compute and
// its disk, not their sum.
//
// The writer reports how far the file is written, in order (advance). A thread of its own
// asks the kernel to start writing each completed window (sync_file_range WRITE) and waits
// for the window `lag` behind it to reach the disk, so dirty pages never pile up to the point
// where the kernel throttles the writer. None of this makes anything durable (no metadata,
// no disk cache flush): partial_file::sync and commit still do that; they only have less
// left to write.

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>

#include "npyflow/io/partial_file.hpp"

namespace npyflow {

class background_writeback {
public:
    static constexpr std::uint64_t default_window = 64 << 20;

    // Bytes before first_byte are not this writer's (another rank's, a resumed job's).
    background_writeback(const partial_file& file, std::uint64_t first_byte, std::uint64_t window = default_window,
                         unsigned lag = 2);
    ~background_writeback();  // stops the thread; what it started, the kernel finishes
    background_writeback(const background_writeback&) = delete;
    background_writeback& operator=(const background_writeback&) = delete;

    // Bytes [first_byte, end) are written. Cheap; never waits for the disk.
    void advance(std::uint64_t end);

    // Seconds the thread spent waiting for windows to reach the disk, and the windows.
    double wait_seconds() const;
    std::uint64_t windows() const;

private:
    void run();

    const partial_file& file_;
    const std::uint64_t window_;
    const unsigned lag_;
    std::uint64_t next_ = 0;  // start of the next window to hand to the kernel (thread only)
    mutable std::mutex mutex_;
    std::condition_variable wake_;
    std::uint64_t written_ = 0;  // guarded by mutex_
    bool stopping_ = false;      // guarded by mutex_
    double wait_seconds_ = 0;    // guarded by mutex_
    std::uint64_t windows_ = 0;  // guarded by mutex_
    std::thread thread_;
};

}  // namespace npyflow
