#include "npyflow/job/accuracy_tally.hpp"

#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/ops/saturate_cast.hpp"

namespace npyflow {
namespace {

std::int64_t label_at(dtype type, const std::byte* p) {
    return visit_dtype(type, [&](auto zero) {
        decltype(zero) v;
        std::memcpy(&v, p, sizeof(v));
        return saturate_cast<std::int64_t>(v);
    });
}

npy_array open_labels(const std::filesystem::path& path, std::uint64_t rows) {
    npy_array labels = open_npy(path);
    const dtype type = labels.header().type;
    if (labels.rows() != rows || labels.row_elements() != 1 || is_floating(type) || type == dtype::bool_) {
        throw error(fmt::format("{}: labels must be {} integers, one per row, got {} {}", printable_path(path), rows,
                                name(type), format_shape(labels.header().shape)));
    }
    return labels;
}

}  // namespace

accuracy_tally::accuracy_tally(const std::filesystem::path& path, std::uint64_t rows, std::uint64_t classes,
                               row_range checked)
    : path_(path), labels_(open_labels(path, rows)), classes_(classes) {
    std::vector<std::byte> chunk;
    constexpr std::uint64_t chunk_rows = 1 << 16;
    for (std::uint64_t first = checked.begin; first < checked.end; first += chunk_rows) {
        const std::uint64_t n = std::min(chunk_rows, checked.end - first);
        chunk.resize(n * labels_.row_bytes());
        labels_.copy_rows(first, n, chunk);
        for (std::uint64_t r = 0; r < n; ++r) {
            const std::byte* p = chunk.data() + r * labels_.row_bytes();
            const std::int64_t label = label_at(labels_.header().type, p);
            if (label >= 0 && static_cast<std::uint64_t>(label) < classes) continue;
            std::string value = std::to_string(label);
            if (labels_.header().type == dtype::uint64) {  // saturated above: show the stored value
                std::uint64_t raw;
                std::memcpy(&raw, p, sizeof(raw));
                value = std::to_string(raw);
            }
            throw error(fmt::format("{}: row {} holds {}, which is not a class index of this network (0 to {})",
                                    printable_path(path), first + r, value, classes - 1));
        }
    }
}

void accuracy_tally::count(const batch& b, output_kind kind) {
    rows_.resize(b.rows * labels_.row_bytes());
    labels_.copy_rows(b.first_row, b.rows, rows_);
    for (std::uint64_t r = 0; r < b.rows; ++r) {
        const std::int64_t want = label_at(labels_.header().type, rows_.data() + r * labels_.row_bytes());
        std::int64_t got = 0;
        if (kind == output_kind::argmax) {
            std::memcpy(&got, b.data.data() + r * sizeof(got), sizeof(got));
        } else {
            got = predicted_class(reinterpret_cast<const float*>(b.data.data()) + r * classes_, classes_);
        }
        correct_ += got == want;
    }
}

}  // namespace npyflow
