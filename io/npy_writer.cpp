#include "npyflow/io/npy_writer.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {

npy_writer::npy_writer(std::filesystem::path path, dtype type, std::vector<std::uint64_t> shape,
                       std::optional<std::uint64_t> resume_rows, row_range own)
    : file_(std::move(path), resume_rows ? partial_file::mode::reopen : partial_file::mode::create) {
    const std::string header = format_npy_header(type, shape);
    rows_ = shape.empty() ? 1 : shape[0];
    row_bytes_ = itemsize(type);
    for (std::size_t i = 1; i < shape.size(); ++i) row_bytes_ *= shape[i];
    data_offset_ = header.size();
    own_ = {std::min(own.begin, rows_), std::min(own.end, rows_)};
    // The file grows as rows arrive (in any order, holes are fine): it is never made
    // bigger than what was written, so a file-size limit or a full disk shows up at the
    // write that crosses it.
    if (!resume_rows) {
        file_.write_at(0, std::as_bytes(std::span(header)));
        return;
    }
    if (*resume_rows < own_.begin || *resume_rows > own_.end) {
        throw error(fmt::format("{}: cannot resume after row {}: this writer's rows are [{}, {})",
                                printable_path(partial_path()), *resume_rows, own_.begin, own_.end));
    }
    std::string found(header.size(), '\0');
    if (!file_.read_at(0, std::as_writable_bytes(std::span(found))) || found != header) {
        throw error(fmt::format("{}: its header is not that of this job's output ({} {}); cannot resume",
                                printable_path(partial_path()), name(type), format_shape(shape)));
    }
    const std::uint64_t needed = data_offset_ + *resume_rows * row_bytes_;
    if (*resume_rows > own_.begin && file_.size() < needed) {
        throw error(fmt::format("{}: is {} bytes, but the {} rows its journal records need {}; cannot resume",
                                printable_path(partial_path()), file_.size(), *resume_rows, needed));
    }
    bytes_written_ = (*resume_rows - own_.begin) * row_bytes_;
}

void npy_writer::write_rows(std::uint64_t first_row, std::span<const std::byte> src) {
    if (row_bytes_ == 0) return;
    if (src.size() % row_bytes_ != 0) {
        throw error(fmt::format("{}: {} bytes is not a whole number of {}-byte rows", printable_path(path()), src.size(),
                                row_bytes_));
    }
    const std::uint64_t count = src.size() / row_bytes_;
    if (first_row > rows_ || count > rows_ - first_row) {
        throw error(fmt::format("{}: rows [{}, {}) are past the end ({} rows)", printable_path(path()), first_row,
                                first_row + count, rows_));
    }
    file_.write_at(data_offset_ + first_row * row_bytes_, src);
    bytes_written_ += src.size();
}

void npy_writer::check_all_written() const {
    const std::uint64_t expected = own_.rows() * row_bytes_;
    if (bytes_written_ != expected) {
        throw error(fmt::format("{}: {} of {} data bytes were written; not committing", printable_path(path()),
                                bytes_written_.load(), expected));
    }
}

void npy_writer::finish() {
    check_all_written();
    file_.sync();
}

void npy_writer::commit() {
    check_all_written();
    file_.commit();  // flushes, then renames
}

void write_npy(const std::filesystem::path& path, dtype type, const std::vector<std::uint64_t>& shape,
               std::span<const std::byte> data) {
    npy_writer writer(path, type, shape);
    writer.write_rows(0, data);
    writer.commit();
}

}  // namespace npyflow
