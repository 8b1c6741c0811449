#include "npyflow/pipeline/dataset.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"

namespace npyflow {

dataset::dataset(const std::vector<std::filesystem::path>& paths) {
    if (paths.empty()) throw error("no input files");
    for (const auto& path : paths) {
        auto file = std::make_shared<const mapped_file>(path);
        const auto bytes = file->bytes();
        npy_array array = parse_npy(bytes, file, printable_path(path));
        const auto& h = array.header();
        if (h.shape.empty()) throw error(fmt::format("{}: a 0-d array has no rows to stream", printable_path(path)));
        const std::vector<std::uint64_t> row_shape(h.shape.begin() + 1, h.shape.end());
        if (parts_.empty()) {
            type_ = h.type;
            row_shape_ = row_shape;
            row_bytes_ = array.row_bytes();
        } else if (h.type != type_ || row_shape != row_shape_) {
            const auto& first = parts_.front().array;
            throw error(fmt::format("{}: rows are {} {}, but {} has rows of {} {}; all inputs must match",
                                    printable_path(path), name(h.type), format_shape(row_shape), first.where(),
                                    name(type_), format_shape(row_shape_)));
        }
        parts_.push_back({std::move(file), std::move(array), rows_});
        rows_ += parts_.back().array.rows();
    }
}

template <typename Fn>
void dataset::for_each_part(std::uint64_t first, std::uint64_t count, Fn&& fn) const {
    // The part holding `first`: the last one starting at or before it.
    auto it = std::upper_bound(parts_.begin(), parts_.end(), first,
                               [](std::uint64_t row, const part& p) { return row < p.first_row; });
    for (--it; count > 0 && it != parts_.end(); ++it) {
        const std::uint64_t local = first - it->first_row;
        const std::uint64_t n = std::min(count, it->array.rows() - local);
        if (n > 0) fn(*it, local, n);
        first += n;
        count -= n;
    }
}

std::span<const std::byte> dataset::read_rows(std::uint64_t first, std::uint64_t count,
                                              std::vector<std::byte>& scratch) const {
    if (first > rows_ || count > rows_ - first) {
        throw error(fmt::format("rows [{}, {}) are out of range ({} rows)", first, first + count, rows_));
    }
    const part* single = nullptr;
    std::size_t touched = 0;
    for_each_part(first, count, [&](const part& p, std::uint64_t, std::uint64_t) {
        single = &p;
        ++touched;
    });
    if (touched == 1 && single->array.header().is_native_layout()) {
        return single->array.row_view(first - single->first_row, count);
    }
    scratch.resize(count * row_bytes_);
    std::size_t at = 0;
    for_each_part(first, count, [&](const part& p, std::uint64_t local, std::uint64_t n) {
        p.array.copy_rows(local, n, std::span(scratch).subspan(at, n * row_bytes_));
        at += n * row_bytes_;
    });
    return std::span(scratch).first(count * row_bytes_);
}

void dataset::will_need(std::uint64_t first, std::uint64_t count) const {
    count = first >= rows_ ? 0 : std::min(count, rows_ - first);
    for_each_part(first, count, [&](const part& p, std::uint64_t local, std::uint64_t n) {
        // Fortran-ordered rows are scattered over the whole file: no useful window to advise.
        if (!p.array.header().is_c_contiguous()) return;
        p.file->will_need(p.array.header().data_offset + local * row_bytes_, n * row_bytes_);
    });
}

void dataset::dont_need(std::uint64_t first, std::uint64_t count) const {
    count = first >= rows_ ? 0 : std::min(count, rows_ - first);
    for_each_part(first, count, [&](const part& p, std::uint64_t local, std::uint64_t n) {
        if (!p.array.header().is_c_contiguous()) return;
        p.file->dont_need(p.array.header().data_offset + local * row_bytes_, n * row_bytes_);
    });
}

bool dataset::lost_pages() const {
    return std::any_of(parts_.begin(), parts_.end(), [](const part& p) { return p.file->lost_pages(); });
}

void dataset::check_not_truncated() const {
    for (const auto& p : parts_) p.file->check_not_truncated();
}

std::string dataset::describe_rows(std::uint64_t first, std::uint64_t count) const {
    std::vector<std::string> pieces;
    for_each_part(first, count, [&](const part& p, std::uint64_t local, std::uint64_t n) {
        pieces.push_back(fmt::format("{} rows [{}, {})", p.array.where(), local, local + n));
    });
    return pieces.empty() ? fmt::format("rows [{}, {})", first, first + count) : fmt::format("{}", fmt::join(pieces, " and "));
}

}  // namespace npyflow
