#pragma once
// An output file written under a temporary name ("<path>.partial" in the same directory)
// and renamed to its real name only by commit(), after an fsync. A job that fails or is
// killed never leaves a file at the real name that looks finished.

#include <cstdint>
#include <filesystem>
#include <span>

namespace npyflow {

class partial_file {
public:
    explicit partial_file(std::filesystem::path path);
    ~partial_file();  // without commit(): the partial file is removed
    partial_file(const partial_file&) = delete;
    partial_file& operator=(const partial_file&) = delete;

    const std::filesystem::path& path() const { return path_; }
    const std::filesystem::path& partial_path() const { return partial_path_; }

    // Writes at an offset; safe to call from several threads for disjoint ranges.
    void write_at(std::uint64_t offset, std::span<const std::byte> bytes) const;
    void resize(std::uint64_t size) const;
    void commit();

private:
    std::filesystem::path path_;
    std::filesystem::path partial_path_;
    int fd_ = -1;
    bool committed_ = false;
};

}  // namespace npyflow
