#include "npyflow/io/small_file.hpp"

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

void check(const struct stat& st, const std::string& name, const char* what, std::uint64_t max_bytes) {
    if (S_ISDIR(st.st_mode)) throw error(fmt::format("{}: is a directory, not a {} file", name, what));
    if (!S_ISREG(st.st_mode)) {
        throw error(fmt::format("{}: is a {}, not a regular file; save the {} to a file (npyflow reads it again to "
                                "check it when a job resumes)",
                                name, file_kind(st.st_mode), what));
    }
    if (static_cast<std::uint64_t>(st.st_size) > max_bytes) {
        throw error(fmt::format("{}: is {} bytes; a {} file may be at most {} MiB", name, st.st_size, what,
                                max_bytes >> 20));
    }
}

}  // namespace

void check_small_file(const std::filesystem::path& path, const char* what, std::uint64_t max_bytes) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) {
        throw error(fmt::format("{}: cannot open: {}", printable_path(path), std::strerror(errno)));
    }
    check(st, printable_path(path), what, max_bytes);
}

std::string read_small_file(const std::filesystem::path& path, const char* what, std::uint64_t max_bytes) {
    const std::string name = printable_path(path);
    // The type is checked before the file is opened (opening some devices does something),
    // and again on what was opened (O_NONBLOCK: a FIFO put there meanwhile must not hang us).
    check_small_file(path, what, max_bytes);
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) throw error(fmt::format("{}: cannot open: {}", name, std::strerror(errno)));
    struct stat st {};
    std::string text;
    try {
        if (::fstat(fd, &st) != 0) throw error(fmt::format("{}: cannot stat: {}", name, std::strerror(errno)));
        check(st, name, what, max_bytes);
        text.resize(static_cast<std::size_t>(st.st_size));
        std::size_t done = 0;
        while (done < text.size()) {
            const ssize_t n = ::read(fd, text.data() + done, text.size() - done);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) throw error(fmt::format("{}: cannot read: {}", name, std::strerror(errno)));
            if (n == 0) break;  // it shrank under us: parse what is there
            done += static_cast<std::size_t>(n);
        }
        text.resize(done);
    } catch (...) {
        ::close(fd);
        throw;
    }
    ::close(fd);
    return text;
}

}  // namespace npyflow
