#pragma once
// An output file written under a temporary name ("<path>.partial" in the same directory)
// and renamed to its real name only by commit(), after an fsync. A job that fails or is
// killed never leaves a file at the real name that looks finished.
//
// Nothing is written through a name that is not ours: the temporary is created O_EXCL |
// O_NOFOLLOW (a leftover one is unlinked first, never truncated, so a hard link to someone's
// file stays whole), a symlink or anything but a regular file at the temporary name is
// refused, and so is a real name that holds a device, FIFO or directory.

#include <cstdint>
#include <filesystem>
#include <span>

namespace npyflow {

class partial_file {
public:
    enum class mode {
        create,  // a new, empty partial file (a regular one left over is unlinked and replaced)
        reopen,  // the partial file an earlier run left, as it is (a resumed job); it
                 // holds that run's work, so it is kept whatever happens until commit()
    };
    explicit partial_file(std::filesystem::path path, mode how = mode::create);
    ~partial_file();  // without commit() or keep(): the partial file is removed
    partial_file(const partial_file&) = delete;
    partial_file& operator=(const partial_file&) = delete;

    // "<path>.partial": where a file is written until it is complete.
    static std::filesystem::path partial_path_for(const std::filesystem::path& path);

    const std::filesystem::path& path() const { return path_; }
    const std::filesystem::path& partial_path() const { return partial_path_; }
    std::uint64_t size() const;

    // Writes at an offset; safe to call from several threads for disjoint ranges.
    void write_at(std::uint64_t offset, std::span<const std::byte> bytes) const;
    // Reads exactly bytes.size() bytes at an offset; false when the file is shorter.
    bool read_at(std::uint64_t offset, std::span<std::byte> bytes) const;
    // Makes what was written so far durable (fdatasync); safe beside write_at.
    void sync() const;
    // Asks the kernel to start writing a byte range to disk, without waiting; and waits until
    // it is written (sync_file_range). Neither makes it durable; both are only to spread the
    // work of sync() and commit() over the job (io/background_writeback.hpp).
    void start_writeback(std::uint64_t offset, std::uint64_t length) const;
    void wait_writeback(std::uint64_t offset, std::uint64_t length) const;
    // Leaves the partial file on disk when this object goes, for a later run to resume.
    void keep() { kept_ = true; }
    // The opposite, for work that must not be kept, even a reopened file's: the partial file
    // is removed when this object goes.
    void discard() { kept_ = false; }
    void commit();

private:
    std::filesystem::path path_;
    std::filesystem::path partial_path_;
    int fd_ = -1;
    bool committed_ = false;
    bool kept_ = false;
};

// Makes a rename or unlink in the directory of `path` durable.
void sync_parent_directory(const std::filesystem::path& path);

}  // namespace npyflow
