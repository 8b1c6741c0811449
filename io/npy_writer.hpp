#pragma once
// Writing .npy outputs whose shape is known up front: the header goes first, then rows
// at their offsets, in any order and from any thread. The file appears under its real
// name only on commit(), and only if every byte of data was written.

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <vector>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/partial_file.hpp"
#include "npyflow/io/row_range.hpp"

namespace npyflow {

class npy_writer {
public:
    // shape[0] is the row count; an empty shape writes a 0-d array of one element.
    // `own` is the rows this writer is to write: all of them, unless several processes
    // write one file (MPI ranks), each its own range. With resume_rows, it continues the
    // partial file that exists (an earlier run's, or another rank's), whose rows from
    // own.begin up to resume_rows are known to be written: its header must be this output's.
    npy_writer(std::filesystem::path path, dtype type, std::vector<std::uint64_t> shape,
               std::optional<std::uint64_t> resume_rows = std::nullopt, row_range own = {});

    std::uint64_t rows() const { return rows_; }
    std::uint64_t row_bytes() const { return row_bytes_; }
    // Where row r starts in the file: data_offset() + r * row_bytes().
    std::uint64_t data_offset() const { return data_offset_; }
    const partial_file& file() const { return file_; }
    const std::filesystem::path& path() const { return file_.path(); }
    const std::filesystem::path& partial_path() const { return file_.partial_path(); }

    // Writes whole rows starting at first_row; src holds a multiple of row_bytes().
    // Thread-safe for disjoint row ranges.
    void write_rows(std::uint64_t first_row, std::span<const std::byte> src);

    // Makes the rows written so far durable; safe beside write_rows.
    void sync() const { file_.sync(); }
    // Leaves the partial file for a later run to resume instead of removing it.
    void keep_partial() { file_.keep(); }
    // Removes the partial file when this writer goes, even a reopened one (its rows are wrong).
    void discard() { file_.discard(); }

    // Checks that every row of `own` was written, and flushes them.
    void finish();
    // Checks and flushes as finish() does, then renames into place. With several writers
    // of one file, only one commits, after every writer finished.
    void commit();

private:
    void check_all_written() const;

    partial_file file_;
    std::uint64_t rows_ = 0;
    std::uint64_t row_bytes_ = 0;
    std::uint64_t data_offset_ = 0;
    row_range own_;
    std::atomic<std::uint64_t> bytes_written_{0};
};

// Writes a whole array (C order, little endian) in one go.
void write_npy(const std::filesystem::path& path, dtype type, const std::vector<std::uint64_t>& shape,
               std::span<const std::byte> data);

}  // namespace npyflow
