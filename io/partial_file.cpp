#include "io/partial_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow {
namespace {

[[noreturn]] void fail(std::string_view action, const std::filesystem::path& path) {
    throw error(fmt::format("{}: cannot {}: {}", path.string(), action, std::strerror(errno)));
}

}  // namespace

std::filesystem::path partial_file::partial_path_for(const std::filesystem::path& path) {
    auto partial = path;
    partial += ".partial";
    return partial;
}

partial_file::partial_file(std::filesystem::path path, mode how)
    : path_(std::move(path)), partial_path_(partial_path_for(path_)), kept_(how == mode::reopen) {
    const int flags = how == mode::create ? O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC : O_RDWR | O_CLOEXEC;
    fd_ = ::open(partial_path_.c_str(), flags, 0644);
    if (fd_ < 0) fail(how == mode::create ? "create" : "reopen", partial_path_);
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
