#pragma once
// A scoring job's output compared, value by value, with outputs the user trusts (PyTorch's,
// saved with np.save; score --reference), so that a spec can be checked against the
// framework that trained the weights in one command.

#include <filesystem>
#include <cstdint>
#include <string>
#include <vector>

namespace npyflow {

struct reference_result {
    bool within = true;
    std::string text;  // the summary: max error, and the first rows over the tolerance
};

// Refuses a reference whose shape is not the output's, before the job runs.
void check_reference_shape(const std::filesystem::path& reference, const std::vector<std::uint64_t>& output_shape);

// Reads both files in chunks (any size). Throws when their shapes differ.
reference_result compare_with_reference(const std::filesystem::path& output, const std::filesystem::path& reference,
                                        double atol);

}  // namespace npyflow
