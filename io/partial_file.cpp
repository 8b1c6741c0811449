#include "npyflow/io/partial_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"

namespace npyflow {
namespace {

[[noreturn]] void fail(std::string_view action, const std::filesystem::path& path) {
    throw error(fmt::format("{}: cannot {}: {}", printable_path(path), action, std::strerror(errno)));
}

// The real name is replaced by the rename on commit: only a regular file (or a symlink,
// which the rename replaces, not its target) may be there. A device, FIFO or directory is
// refused before anything is written, so that "-o /dev/null" never replaces /dev/null.
void check_replaceable(const std::filesystem::path& path) {
    const auto kind = file_kind(path);
    if (kind && *kind != "regular file" && *kind != "symlink") {
        throw error(fmt::format("{}: exists and is a {}; npyflow writes outputs only as regular files", printable_path(path),
                                *kind));
    }
    if (kind == "symlink" && std::filesystem::is_directory(path)) {
        throw error(fmt::format("{}: is a directory; give a file name", printable_path(path)));
    }
}

// The temporary name must be ours: a symlink or anything but a regular file there is
// refused (writing through it would damage whatever it leads to).
void check_temporary(const std::filesystem::path& partial) {
    const auto kind = file_kind(partial);
    if (kind && *kind != "regular file") {
        throw error(fmt::format("{}: exists and is a {}, not a file npyflow left; remove it", printable_path(partial),
                                *kind));
    }
}

}  // namespace

std::filesystem::path partial_file::partial_path_for(const std::filesystem::path& path) {
    auto partial = path;
    partial += ".partial";
    return partial;
}

partial_file::partial_file(std::filesystem::path path, mode how)
    : path_(std::move(path)), partial_path_(partial_path_for(path_)), kept_(how == mode::reopen) {
    check_replaceable(path_);
    check_temporary(partial_path_);
    if (how == mode::create) {
        // A leftover partial file (a run killed before its first checkpoint) is unlinked, not
        // truncated: O_EXCL then guarantees the file written is a fresh one of this job's.
        if (::unlink(partial_path_.c_str()) != 0 && errno != ENOENT) fail("replace", partial_path_);
        fd_ = ::open(partial_path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
        if (fd_ < 0) fail("create", partial_path_);
        return;
    }
    fd_ = ::open(partial_path_.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC);
    if (fd_ < 0) fail("reopen", partial_path_);
}

partial_file::~partial_file() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_ && !kept_) ::unlink(partial_path_.c_str());
}

std::uint64_t partial_file::size() const {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) fail("stat", partial_path_);
    return static_cast<std::uint64_t>(st.st_size);
}

void partial_file::write_at(std::uint64_t offset, std::span<const std::byte> bytes) const {
    while (!bytes.empty()) {
        const ssize_t n = ::pwrite(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("write", partial_path_);
        }
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
}

bool partial_file::read_at(std::uint64_t offset, std::span<std::byte> bytes) const {
    while (!bytes.empty()) {
        const ssize_t n = ::pread(fd_, bytes.data(), bytes.size(), static_cast<off_t>(offset));
        if (n < 0) {
            if (errno == EINTR) continue;
            fail("read", partial_path_);
        }
        if (n == 0) return false;
        bytes = bytes.subspan(static_cast<std::size_t>(n));
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

void partial_file::start_writeback(std::uint64_t offset, std::uint64_t length) const {
    (void)::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(length), SYNC_FILE_RANGE_WRITE);
}

void partial_file::wait_writeback(std::uint64_t offset, std::uint64_t length) const {
    (void)::sync_file_range(fd_, static_cast<off64_t>(offset), static_cast<off64_t>(length),
                            SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

void partial_file::sync() const {
    if (::fdatasync(fd_) != 0) fail("flush", partial_path_);
}

void partial_file::commit() {
    if (committed_) return;
    if (::fsync(fd_) != 0) fail("flush", partial_path_);
    if (::close(fd_) != 0) {
        fd_ = -1;
        fail("close", partial_path_);
    }
    fd_ = -1;
    if (::rename(partial_path_.c_str(), path_.c_str()) != 0) fail("rename into place", path_);
    committed_ = true;
    sync_parent_directory(path_);
}

void sync_parent_directory(const std::filesystem::path& path) {
    const auto dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
    if (const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC); dfd >= 0) {
        (void)::fsync(dfd);
        ::close(dfd);
    }
}

}  // namespace npyflow
