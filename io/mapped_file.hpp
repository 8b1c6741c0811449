#pragma once
// A read-only memory mapping of a whole file (Boost.Iostreams mapped_file_source).
// Opening costs O(1) time and memory whatever the file's size; pages are read on first touch.
// A file truncated by someone else while mapped does not crash its readers (truncation_guard):
// the lost pages read as zeros, and check_not_truncated() reports it.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>

namespace npyflow {

class mapped_file {
public:
    // Throws npyflow::error naming the path when the file cannot be opened or mapped.
    explicit mapped_file(const std::filesystem::path& path);
    ~mapped_file();
    mapped_file(const mapped_file&) = delete;
    mapped_file& operator=(const mapped_file&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::span<const std::byte> bytes() const { return bytes_; }
    std::uint64_t size() const { return bytes_.size(); }

    // Hints for streaming readers: start reading a range ahead of use, or drop a range
    // already consumed so resident memory stays bounded. Ranges are clipped to the file.
    void will_need(std::uint64_t offset, std::uint64_t length) const;
    void dont_need(std::uint64_t offset, std::uint64_t length) const;

    // Whether a read found pages missing because the file was truncated (cheap: one flag).
    bool lost_pages() const;
    // Throws npyflow::error naming the file when it lost pages or is now shorter than mapped.
    void check_not_truncated() const;

private:
    struct impl;
    std::filesystem::path path_;
    std::unique_ptr<impl> impl_;
    std::span<const std::byte> bytes_;
};

}  // namespace npyflow
