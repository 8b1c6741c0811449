#include "npyflow/job/reference_check.hpp"

#include <cmath>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/ops/saturate_cast.hpp"

namespace npyflow {
namespace {

// A chunk of rows as doubles, whatever the stored numeric type.
void rows_as_double(const npy_array& a, std::uint64_t first, std::uint64_t count, std::vector<std::byte>& raw,
                    std::vector<double>& out) {
    raw.resize(count * a.row_bytes());
    a.copy_rows(first, count, raw);
    const std::size_t n = count * a.row_elements();
    out.resize(n);
    visit_dtype(a.header().type, [&](auto zero) {
        using T = decltype(zero);
        for (std::size_t i = 0; i < n; ++i) {
            T v;
            std::memcpy(&v, raw.data() + i * sizeof(T), sizeof(T));
            out[i] = saturate_cast<double>(v);
        }
    });
}

}  // namespace

void check_reference_shape(const std::filesystem::path& reference, const std::vector<std::uint64_t>& output_shape) {
    const npy_array want = open_npy(reference);
    if (want.header().shape != output_shape) {
        throw error(fmt::format("--reference {}: has shape {}, the output {}", printable_path(reference),
                                format_shape(want.header().shape), format_shape(output_shape)));
    }
}

reference_result compare_with_reference(const std::filesystem::path& output, const std::filesystem::path& reference,
                                        double atol) {
    const npy_array got = open_npy(output), want = open_npy(reference);
    if (got.header().shape != want.header().shape) {
        throw error(fmt::format("--reference {}: has shape {}, the output {}", printable_path(reference),
                                format_shape(want.header().shape), format_shape(got.header().shape)));
    }
    double max_error = 0;
    std::uint64_t max_row = 0, rows_over = 0;
    std::vector<std::uint64_t> first_over;
    std::vector<std::byte> raw;
    std::vector<double> a, b;
    const std::uint64_t per_row = std::max<std::uint64_t>(got.row_elements(), 1);
    const std::uint64_t chunk = std::max<std::uint64_t>(1, (std::uint64_t{1} << 20) / per_row);
    for (std::uint64_t first = 0; first < got.rows(); first += chunk) {
        const std::uint64_t n = std::min(chunk, got.rows() - first);
        rows_as_double(got, first, n, raw, a);
        rows_as_double(want, first, n, raw, b);
        for (std::uint64_t r = 0; r < n; ++r) {
            double row_error = 0;
            for (std::uint64_t i = r * per_row; i < (r + 1) * per_row && i < a.size(); ++i) {
                // NaN in one and not the other is a difference; NaN in both agrees.
                const double e = std::isnan(a[i]) || std::isnan(b[i]) ? (std::isnan(a[i]) == std::isnan(b[i]) ? 0.0 : INFINITY)
                                                                       : std::abs(a[i] - b[i]);
                row_error = std::max(row_error, e);
            }
            if (row_error > max_error) {
                max_error = row_error;
                max_row = first + r;
            }
            if (row_error > atol) {
                ++rows_over;
                if (first_over.size() < 5) first_over.push_back(first + r);
            }
        }
    }
    reference_result result;
    result.within = rows_over == 0;
    result.text = result.within
                      ? fmt::format("reference: max |error| {:.3g} (row {}) over {} rows, within --atol {:g}", max_error,
                                    max_row, got.rows(), atol)
                      : fmt::format("reference: {} of {} rows differ by more than --atol {:g} (max |error| {:.3g} at "
                                    "row {}); the first: rows {}",
                                    rows_over, got.rows(), atol, max_error, max_row, fmt::join(first_over, ", "));
    return result;
}

}  // namespace npyflow
