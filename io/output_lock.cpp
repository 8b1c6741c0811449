#include "npyflow/io/output_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"

namespace npyflow {
namespace {

std::string this_host() {
    char name[256] = {};
    if (::gethostname(name, sizeof(name) - 1) != 0) return "unknown host";
    return name;
}

// Whether the file is empty or holds what a holder writes: "pid 1234 on host node7\n".
bool holder_line(int fd) {
    char text[512] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    if (n == 0) return true;
    return n > 0 && std::strncmp(text, "pid ", 4) == 0 && std::strstr(text, " on host ") != nullptr &&
           text[n - 1] == '\n' && std::memchr(text, '\n', static_cast<std::size_t>(n)) == text + n - 1;
}

// What the holder wrote: "pid 1234 on host node7".
std::string holder_of(int fd) {
    char text[512] = {};
    const ssize_t n = ::pread(fd, text, sizeof(text) - 1, 0);
    std::string holder(text, n > 0 ? static_cast<std::size_t>(n) : 0);
    while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) holder.pop_back();
    return holder.empty() ? "another process" : holder;
}

}  // namespace

std::filesystem::path output_lock::path_for(const std::filesystem::path& output) {
    auto path = output;
    path += ".lock";
    return path;
}

output_lock::output_lock(const std::filesystem::path& output) : path_(path_for(output)) {
    // The holder removes the file before it lets the lock go, so a lock taken on a file that
    // is no longer at the path (or has been replaced) is taken again on the new one.
    for (;;) {
        fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        const bool created = fd_ >= 0;
        if (!created && errno == EEXIST) fd_ = ::open(path_.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
        if (fd_ < 0) {
            throw error(fmt::format("{}: cannot create the lock that keeps other jobs off this output: {}",
                                    printable_path(path_), std::strerror(errno)));
        }
        struct stat opened {};
        // A lock file found there must be one a job left: a regular file of one name, holding
        // nothing or a holder's line. Anything else is someone's file, which the lock would
        // overwrite and remove.
        const auto refuse = [&](const char* why) {
            ::close(fd_);
            fd_ = -1;
            throw error(fmt::format("{}: {}; npyflow uses this name to lock the output, remove it", printable_path(path_),
                                    why));
        };
        if (::fstat(fd_, &opened) != 0 || !S_ISREG(opened.st_mode)) refuse("is not a regular file");
        if (!created && opened.st_nlink != 1) refuse("has other names (hard links)");
        if (!created && !holder_line(fd_)) refuse("holds something other than a job's pid and host");
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            const int why = errno;
            const std::string holder = holder_of(fd_);
            ::close(fd_);
            fd_ = -1;
            if (why == EWOULDBLOCK) {
                throw error(fmt::format("{}: another job is writing this output ({}); wait for it to finish, or "
                                        "choose another output",
                                        printable_path(output), holder));
            }
            throw error(fmt::format("{}: cannot lock: {}", printable_path(path_), std::strerror(why)));
        }
        struct stat now {};
        if (::stat(path_.c_str(), &now) == 0 && now.st_dev == opened.st_dev && now.st_ino == opened.st_ino) break;
        ::close(fd_);  // the previous holder removed it between our open and our lock
        fd_ = -1;
    }
    const std::string holder = fmt::format("pid {} on host {}\n", ::getpid(), this_host());
    // Should this fail, only the message a refused job prints suffers; the lock holds.
    const bool recorded = ::ftruncate(fd_, 0) == 0 && ::pwrite(fd_, holder.data(), holder.size(), 0) >= 0;
    (void)recorded;
}

output_lock::~output_lock() {
    if (fd_ < 0) return;
    // Only our own file: had someone removed it and another job made a new one, that one is
    // the other job's lock.
    struct stat held {}, now {};
    if (::fstat(fd_, &held) == 0 && ::lstat(path_.c_str(), &now) == 0 && held.st_dev == now.st_dev &&
        held.st_ino == now.st_ino) {
        ::unlink(path_.c_str());
    }
    ::close(fd_);
}

}  // namespace npyflow
