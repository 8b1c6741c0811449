#pragma once
// What a path names on disk, for the checks that keep a job from writing over a file it
// reads: two names are the same file when device and inode agree (a hard link, a symlink,
// "./a.npy" and "a.npy"), and a name that is not there yet is no file at all.

#include <sys/types.h>

#include <filesystem>
#include <optional>
#include <string>

namespace npyflow {

struct file_identity {
    dev_t device = 0;
    ino_t inode = 0;
    bool operator==(const file_identity&) const = default;
};

// The file a path leads to, following symlinks; nothing when no file is there.
std::optional<file_identity> identify_file(const std::filesystem::path& path);

// What a name itself is, without following a symlink: "regular file", "symlink",
// "directory", "character device", "block device", "FIFO", "socket"; nothing when absent.
std::optional<std::string> file_kind(const std::filesystem::path& path);
// The same for a st_mode from stat(2) or fstat(2).
std::string file_kind(mode_t mode);

// The path as text safe for messages and JSON: bytes that are not UTF-8 become \xNN.
std::string printable_path(const std::filesystem::path& path);

}  // namespace npyflow
