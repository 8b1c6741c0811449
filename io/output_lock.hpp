#pragma once
// One writer per output: an exclusive flock(2) on "<output>.lock", taken before anything
// of the output is written and held for the job's whole life. The kernel releases it when
// the process dies, however it dies, so a lock file left by a killed job is no obstacle;
// a second job that finds the lock held is refused at once, naming the holder's pid and
// host (which the holder writes into the file).

#include <filesystem>
#include <string>

namespace npyflow {

class output_lock {
public:
    // Throws npyflow::error when another process holds the lock, or the lock file cannot
    // be created (its directory is missing or read-only).
    explicit output_lock(const std::filesystem::path& output);
    ~output_lock();  // removes the lock file, then releases the lock
    output_lock(const output_lock&) = delete;
    output_lock& operator=(const output_lock&) = delete;

    // "<output>.lock".
    static std::filesystem::path path_for(const std::filesystem::path& output);

private:
    std::filesystem::path path_;
    int fd_ = -1;
};

}  // namespace npyflow
