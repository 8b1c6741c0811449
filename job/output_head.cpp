#include "npyflow/job/output_head.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {

output_kind parse_output_kind(std::string_view text) {
    for (const auto kind : {output_kind::logits, output_kind::probs, output_kind::argmax}) {
        if (text == name(kind)) return kind;
    }
    throw error(fmt::format("output kind '{}' is not one of logits, probs, argmax", text));
}

std::string_view name(output_kind kind) {
    switch (kind) {
        case output_kind::logits: return "logits";
        case output_kind::probs: return "probs";
        case output_kind::argmax: return "argmax";
    }
    return "?";
}

dtype output_dtype(output_kind kind) { return kind == output_kind::argmax ? dtype::int64 : dtype::float32; }

std::vector<std::uint64_t> output_file_shape(std::uint64_t rows, const std::vector<std::uint64_t>& sample,
                                             output_kind kind) {
    std::vector<std::uint64_t> shape{rows};
    shape.insert(shape.end(), sample.begin(), sample.end());
    if (kind == output_kind::argmax) shape.pop_back();
    return shape;
}

std::int64_t predicted_class(const float* outputs, std::uint64_t classes) {
    if (std::any_of(outputs, outputs + classes, [](float v) { return std::isnan(v); })) return -1;
    return std::max_element(outputs, outputs + classes) - outputs;
}

void apply_output_head(std::span<const float> out, std::uint64_t classes, output_kind kind, layer_kind last,
                       std::vector<std::byte>& result) {
    const std::uint64_t vectors = out.size() / classes;  // rows x positions
    if (kind == output_kind::argmax) {
        result.resize(vectors * sizeof(std::int64_t));
        for (std::uint64_t r = 0; r < vectors; ++r) {
            const std::int64_t best = predicted_class(out.data() + r * classes, classes);
            std::memcpy(result.data() + r * sizeof(best), &best, sizeof(best));
        }
        return;
    }
    result.resize(out.size_bytes());
    std::memcpy(result.data(), out.data(), out.size_bytes());
    if (kind != output_kind::probs || last == layer_kind::softmax) return;
    auto* v = reinterpret_cast<float*>(result.data());
    for (std::uint64_t r = 0; r < vectors; ++r) {
        float* row = v + r * classes;
        if (last == layer_kind::log_softmax) {
            for (std::uint64_t c = 0; c < classes; ++c) row[c] = std::exp(row[c]);
            continue;
        }
        const float top = *std::max_element(row, row + classes);
        double sum = 0;
        for (std::uint64_t c = 0; c < classes; ++c) sum += row[c] = std::exp(row[c] - top);
        for (std::uint64_t c = 0; c < classes; ++c) row[c] = static_cast<float>(row[c] / sum);
    }
}

}  // namespace npyflow
