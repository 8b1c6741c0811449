#pragma once
// One array from an .npy file or an .npz member: its header and its data bytes, which
// stay where they are (in a mapping or an inflated buffer) until rows are asked for.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>

#include "npyflow/io/npy_header.hpp"

namespace npyflow {

class npy_array {
public:
    // `data` holds exactly header.data_bytes() bytes; `owner` keeps them alive.
    npy_array(npy_header header, std::span<const std::byte> data, std::shared_ptr<const void> owner,
              std::string where);

    const npy_header& header() const { return header_; }
    // Where the array came from, for messages: "a.npy" or "w.npz: dense/kernel:0".
    const std::string& where() const { return where_; }
    // The same array (sharing its data) under another name for messages.
    npy_array with_where(std::string where) const { return {header_, data_, owner_, std::move(where)}; }
    // The data as stored: in the file's byte order and C or Fortran order.
    std::span<const std::byte> raw_data() const { return data_; }

    // Rows are the slices along axis 0; a 0-d array has one row of one element.
    std::uint64_t rows() const;
    std::uint64_t row_elements() const;
    std::uint64_t row_bytes() const { return row_elements() * itemsize(header_.type); }

    // Rows [first, first + count) in place, without a copy. Only for arrays whose
    // header().is_native_layout(); throws npyflow::error otherwise or when out of range.
    std::span<const std::byte> row_view(std::uint64_t first, std::uint64_t count) const;

    // Rows [first, first + count) converted to C order and little endian into dst,
    // which must hold count * row_bytes() bytes.
    void copy_rows(std::uint64_t first, std::uint64_t count, std::span<std::byte> dst) const;

private:
    void check_range(std::uint64_t first, std::uint64_t count) const;

    npy_header header_;
    std::span<const std::byte> data_;
    std::shared_ptr<const void> owner_;
    std::string where_;
};

// Parses an .npy held in memory (a whole file's bytes). Checks that the data is as long
// as the header declares; errors are prefixed with `where`.
npy_array parse_npy(std::span<const std::byte> bytes, std::shared_ptr<const void> owner, std::string where);

// Maps an .npy file and parses it: O(1) in the file's size.
npy_array open_npy(const std::filesystem::path& path);

}  // namespace npyflow
