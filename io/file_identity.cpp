#include "npyflow/io/file_identity.hpp"

#include <sys/stat.h>

#include <fmt/format.h>

namespace npyflow {

std::optional<file_identity> identify_file(const std::filesystem::path& path) {
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0) return std::nullopt;
    return file_identity{st.st_dev, st.st_ino};
}

std::optional<std::string> file_kind(const std::filesystem::path& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) != 0) return std::nullopt;
    return file_kind(st.st_mode);
}

std::string file_kind(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFREG: return "regular file";
    case S_IFLNK: return "symlink";
    case S_IFDIR: return "directory";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFIFO: return "FIFO";
    case S_IFSOCK: return "socket";
    default: return "special file";
    }
}

std::string printable_path(const std::filesystem::path& path) {
    const std::string& s = path.native();
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        const auto c = static_cast<unsigned char>(s[i]);
        // The length of a well-formed UTF-8 sequence starting here, or 0.
        std::size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
        if (len > 1 && (i + len > s.size() || c == 0xc0 || c == 0xc1 || c > 0xf4)) len = 0;
        for (std::size_t k = 1; k < len; ++k) {
            if ((static_cast<unsigned char>(s[i + k]) >> 6) != 0x2) len = 0;
        }
        if (len > 2) {  // no overlong forms, surrogates or code points past U+10FFFF
            const auto c1 = static_cast<unsigned char>(s[i + 1]);
            if ((c == 0xe0 && c1 < 0xa0) || (c == 0xed && c1 > 0x9f) || (c == 0xf0 && c1 < 0x90) ||
                (c == 0xf4 && c1 > 0x8f)) {
                len = 0;
            }
        }
        if (len > 0 && c != '\\') {
            out.append(s, i, len);
            i += len;
        } else {
            out += c == '\\' ? std::string("\\\\") : fmt::format("\\x{:02x}", c);
            ++i;
        }
    }
    return out;
}

}  // namespace npyflow
