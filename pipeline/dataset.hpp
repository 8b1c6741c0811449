#pragma once
// Several .npy files read as one dataset, concatenated along axis 0. They must agree on
// dtype and on the shape of a row; byte order and C/Fortran order may differ, since rows
// are always delivered in C order, little endian.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/npy_array.hpp"

namespace npyflow {

class dataset {
public:
    // Maps every file; O(1) in their sizes. Throws npyflow::error naming the file that
    // does not match the first one and how.
    explicit dataset(const std::vector<std::filesystem::path>& paths);

    dtype type() const { return type_; }
    const std::vector<std::uint64_t>& row_shape() const { return row_shape_; }  // one row, without axis 0
    std::uint64_t rows() const { return rows_; }
    std::uint64_t row_bytes() const { return row_bytes_; }

    // Rows [first, first + count) in C order, little endian: a view into the mapping when a
    // single file holds them in that layout, else converted into `scratch` (resized to fit).
    std::span<const std::byte> read_rows(std::uint64_t first, std::uint64_t count,
                                         std::vector<std::byte>& scratch) const;

    // Read-ahead and release-behind over the mappings, by dataset row range.
    void will_need(std::uint64_t first, std::uint64_t count) const;
    void dont_need(std::uint64_t first, std::uint64_t count) const;

    // Whether a file was truncated while being read (truncation_guard): lost_pages() is
    // one flag per file, for every batch; check_not_truncated() throws naming the file.
    bool lost_pages() const;
    void check_not_truncated() const;

    // "a.npy rows [0, 100)", or the files and ranges a dataset range spans, for messages.
    std::string describe_rows(std::uint64_t first, std::uint64_t count) const;

private:
    struct part {
        std::shared_ptr<const mapped_file> file;
        npy_array array;
        std::uint64_t first_row;  // where this file starts in the dataset
    };
    // Calls fn(part, first row within the part, count) for each part the range touches.
    template <typename Fn>
    void for_each_part(std::uint64_t first, std::uint64_t count, Fn&& fn) const;

    std::vector<part> parts_;
    dtype type_ = dtype::uint8;
    std::vector<std::uint64_t> row_shape_;
    std::uint64_t rows_ = 0;
    std::uint64_t row_bytes_ = 0;
};

}  // namespace npyflow
