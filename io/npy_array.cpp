#include "npyflow/io/npy_array.hpp"

#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/byteswap.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/mapped_file.hpp"

namespace npyflow {

npy_array::npy_array(npy_header header, std::span<const std::byte> data, std::shared_ptr<const void> owner,
                     std::string where)
    : header_(std::move(header)), data_(data), owner_(std::move(owner)), where_(std::move(where)) {}

std::uint64_t npy_array::rows() const { return header_.shape.empty() ? 1 : header_.shape[0]; }

std::uint64_t npy_array::row_elements() const {
    std::uint64_t n = 1;
    for (std::size_t i = 1; i < header_.shape.size(); ++i) n *= header_.shape[i];
    return n;
}

void npy_array::check_range(std::uint64_t first, std::uint64_t count) const {
    if (first > rows() || count > rows() - first) {
        throw error(fmt::format("{}: rows [{}, {}) are out of range ({} rows)", where_, first, first + count, rows()));
    }
}

std::span<const std::byte> npy_array::row_view(std::uint64_t first, std::uint64_t count) const {
    check_range(first, count);
    if (!header_.is_native_layout()) {
        throw error(fmt::format("{}: rows of a {} array cannot be viewed in place", where_,
                                header_.fortran_order ? "Fortran-ordered" : "big-endian"));
    }
    return data_.subspan(first * row_bytes(), count * row_bytes());
}

void npy_array::copy_rows(std::uint64_t first, std::uint64_t count, std::span<std::byte> dst) const {
    check_range(first, count);
    const std::uint64_t bytes = count * row_bytes();
    if (dst.size() != bytes) {
        throw error(fmt::format("{}: destination holds {} bytes, {} rows need {}", where_, dst.size(), count, bytes));
    }
    if (bytes == 0) return;  // empty spans may hold null pointers, which memcpy must not see
    const std::size_t item = itemsize(header_.type);
    if (header_.is_c_contiguous()) {
        std::memcpy(dst.data(), data_.data() + first * row_bytes(), bytes);
    } else {
        // Fortran order: the row index varies fastest, so each element position of a row is
        // a contiguous run over rows. Walk the positions in C order with an odometer over the
        // trailing dimensions, tracking where each run starts in the Fortran layout.
        const auto& shape = header_.shape;
        const std::size_t ndim = shape.size();
        std::vector<std::uint64_t> f_stride(ndim, 0), index(ndim, 0);
        f_stride[1] = rows();  // not C-contiguous, so ndim >= 2
        for (std::size_t d = 2; d < ndim; ++d) f_stride[d] = f_stride[d - 1] * shape[d - 1];
        const std::uint64_t per_row = row_elements();
        std::uint64_t f_offset = 0;
        for (std::uint64_t e = 0; e < per_row; ++e) {
            const std::byte* src = data_.data() + (first + f_offset) * item;
            for (std::uint64_t r = 0; r < count; ++r) {
                std::memcpy(dst.data() + (r * per_row + e) * item, src + r * item, item);
            }
            for (std::size_t d = ndim - 1; d >= 1; --d) {
                f_offset += f_stride[d];
                if (++index[d] < shape[d]) break;
                f_offset -= f_stride[d] * shape[d];
                index[d] = 0;
            }
        }
    }
    if (header_.order == byte_order::big) byteswap_elements(dst, item);
}

npy_array parse_npy(std::span<const std::byte> bytes, std::shared_ptr<const void> owner, std::string where) {
    npy_header header = with_context(where, [&] { return parse_npy_header(bytes, bytes.size()); });
    const std::uint64_t available = bytes.size() - header.data_offset;
    if (available < header.data_bytes()) {
        throw error(fmt::format("{}: data is shorter than the shape declares: {} {} needs {} bytes, found {}", where,
                                format_shape(header.shape), name(header.type), header.data_bytes(), available));
    }
    const auto data = bytes.subspan(header.data_offset, header.data_bytes());
    return npy_array(std::move(header), data, std::move(owner), std::move(where));
}

npy_array open_npy(const std::filesystem::path& path) {
    auto file = std::make_shared<const mapped_file>(path);
    const auto bytes = file->bytes();
    return parse_npy(bytes, std::move(file), printable_path(path));
}

}  // namespace npyflow
