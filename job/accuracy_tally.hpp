#pragma once
// Accuracy against integer class labels (an .npy, one per row): the predictions of a scoring
// job's rows that match their labels, counted by the job's sink as rows are written.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/row_range.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/pipeline/batch.hpp"

namespace npyflow {

class accuracy_tally {
public:
    // Opens the labels and checks them before the job starts: one integer a row for each of
    // `rows` rows, and, over `checked` (this rank's rows; a scan of 8 bytes a row at most),
    // every label a class index of a network of `classes` outputs. A label no prediction can
    // equal (-1 for "unlabelled", a class past the outputs) would make the accuracy silently
    // wrong; the error names the row.
    accuracy_tally(const std::filesystem::path& labels, std::uint64_t rows, std::uint64_t classes, row_range checked);

    // Adds the batch's correct predictions: its rows as the output head left them (class
    // scores, or argmax's classes).
    void count(const batch& b, output_kind kind);

    // Starts from a resumed job's count of the rows already done.
    void resume_from(std::uint64_t correct) { correct_ = correct; }
    std::uint64_t correct() const { return correct_; }

private:
    std::filesystem::path path_;
    npy_array labels_;
    std::uint64_t classes_;
    std::uint64_t correct_ = 0;
    std::vector<std::byte> rows_;
};

}  // namespace npyflow
