#pragma once
// Every file a job reads and every file it will create, checked together before anything is
// opened for writing, so that no job damages a file it reads or fails late on a name it
// could never have written:
//
// - no written file is a read one: same path, a symlink or a hard link to it (device and
//   inode), or a file inside a directory the job reads (weights given as a directory);
// - no two written files are one (--trace equal to -o);
// - each written name is a file name ("", ".", "-", a directory are refused) in a directory
//   that exists, short enough for its filesystem with every suffix the job adds
//   (".journal.partial"), and, where something is already there, a regular file.

#include <filesystem>
#include <string>
#include <vector>

namespace npyflow {

class job_paths {
public:
    // A file the job reads (or, where `directory` allows, a directory: every file below it).
    // `role` names it in messages: "input", "--model", "--weights", "--labels".
    void reads(std::string role, const std::filesystem::path& path, bool directory = false);
    // A file the job creates or replaces by rename. A temporary (a .partial, a journal, a
    // lock) must be a regular file where one exists; an output may also be a symlink,
    // which the rename replaces (never its target).
    void writes(std::string role, const std::filesystem::path& path, bool temporary = false);

    // Throws npyflow::error with the first problem found.
    void check() const;

private:
    struct entry {
        std::string role;
        std::filesystem::path path;
        bool temporary = false;  // a written file npyflow creates and removes (.partial, journal, lock)
        bool directory = false;  // a read path that may be a directory
    };
    std::vector<entry> reads_, writes_;
};

}  // namespace npyflow
