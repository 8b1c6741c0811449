#include "npyflow/nn/param_transform.hpp"

#include <limits>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {
namespace {

std::uint64_t product(const std::vector<std::uint64_t>& shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;  // shapes here are of arrays held in memory: no overflow
    return n;
}

bound_tensor select_index(const bound_tensor& t, std::uint64_t index) {
    if (t.shape.empty() || index >= t.shape[0]) {
        throw error(fmt::format("'index' {} is out of range for array '{}' of shape {} (it selects along the first "
                                "axis)",
                                index, t.source, format_shape(t.shape)));
    }
    const std::vector<std::uint64_t> shape(t.shape.begin() + 1, t.shape.end());
    const std::uint64_t n = product(shape);
    return {shape, t.values.subspan(index * n, n), t.owner, fmt::format("{}[{}]", t.source, index)};
}

bound_tensor select_window(const bound_tensor& t, std::uint64_t offset, const std::vector<std::uint64_t>& shape) {
    const std::uint64_t total = t.values.size();
    std::uint64_t n = 1;
    bool overflow = false;
    for (auto d : shape) overflow = overflow || __builtin_mul_overflow(n, d, &n);
    if (overflow) n = std::numeric_limits<std::uint64_t>::max();
    if (offset > total || n > total - offset) {
        throw error(fmt::format("'offset' {} with 'shape' {} needs {} values from there, but array '{}' has {} in all",
                                offset, format_shape(shape), n > total ? fmt::format("more than {}", total) : std::to_string(n),
                                t.source, total));
    }
    return {shape, t.values.subspan(offset, n), t.owner,
            fmt::format("{}[{}:{}] as {}", t.source, offset, offset + n, format_shape(shape))};
}

bound_tensor permute(const bound_tensor& t, const std::vector<std::size_t>& axes) {
    const std::size_t rank = t.shape.size();
    if (axes.size() != rank) {
        throw error(fmt::format("'transpose' lists {} axes, but array '{}' has {} ({})", axes.size(), t.source, rank,
                                format_shape(t.shape)));
    }
    std::vector<std::uint64_t> shape(rank), in_strides(rank, 1);
    for (std::size_t a = rank; a-- > 1;) in_strides[a - 1] = in_strides[a] * t.shape[a];
    for (std::size_t a = 0; a < rank; ++a) shape[a] = t.shape[axes[a]];
    std::vector<float> out(t.values.size());
    std::vector<std::uint64_t> index(rank, 0);  // in the output's axes
    for (std::size_t i = 0; i < out.size(); ++i) {
        std::uint64_t from = 0;
        for (std::size_t a = 0; a < rank; ++a) from += index[a] * in_strides[axes[a]];
        out[i] = t.values[from];
        for (std::size_t a = rank; a-- > 0;) {
            if (++index[a] < shape[a]) break;
            index[a] = 0;
        }
    }
    return make_tensor(shape, std::move(out), fmt::format("{}.transpose({})", t.source, fmt::join(axes, ", ")));
}

}  // namespace

bound_tensor apply_param_ref(const bound_tensor& t, const param_ref& ref) {
    bound_tensor r = t;
    if (ref.index) r = select_index(r, *ref.index);
    if (!ref.shape.empty()) r = select_window(r, ref.offset.value_or(0), ref.shape);
    if (!ref.transpose.empty()) r = permute(r, ref.transpose);
    return r;
}

}  // namespace npyflow
