#include "npyflow/ops/transpose.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

// Copies one sample; elements move as opaque `Item`s of their size.
template <typename Item>
void permute(const std::byte* src, std::byte* dst, const std::vector<std::uint64_t>& out_shape,
             const std::vector<std::uint64_t>& src_stride) {
    const std::size_t ndim = out_shape.size();
    std::vector<std::uint64_t> index(ndim, 0);
    const std::uint64_t inner = out_shape[ndim - 1];
    const std::uint64_t inner_stride = src_stride[ndim - 1];
    std::uint64_t offset = 0;  // of the current run's first element in src, in elements
    std::uint64_t runs = 1;
    for (std::size_t d = 0; d + 1 < ndim; ++d) runs *= out_shape[d];
    Item* out = reinterpret_cast<Item*>(dst);
    for (std::uint64_t r = 0; r < runs; ++r) {
        for (std::uint64_t i = 0; i < inner; ++i) {
            std::memcpy(out++, src + (offset + i * inner_stride) * sizeof(Item), sizeof(Item));
        }
        for (std::size_t d = ndim - 1; d-- > 0;) {  // advance the odometer over the outer axes
            offset += src_stride[d];
            if (++index[d] < out_shape[d]) break;
            offset -= src_stride[d] * out_shape[d];
            index[d] = 0;
        }
    }
}

template <std::size_t N>
struct bytes_item {
    std::byte b[N];
};

}  // namespace

transpose_op::transpose_op(std::vector<std::int64_t> axes) : axes_(std::move(axes)) {
    auto sorted = axes_;
    std::sort(sorted.begin(), sorted.end());
    for (std::size_t i = 0; i < sorted.size(); ++i) {
        if (sorted[i] != static_cast<std::int64_t>(i)) {
            throw error(fmt::format("'axes' [{}] is not a permutation of 0..{}", fmt::join(axes_, ", "),
                                    axes_.size() - 1));
        }
    }
}

sample_desc transpose_op::infer(const sample_desc& in) const {
    if (axes_.size() != in.shape.size()) {
        throw error(fmt::format("'axes' has {} entries, but samples {} have {} axes", axes_.size(),
                                format_shape(in.shape), in.shape.size()));
    }
    sample_desc out{in.type, {}};
    for (auto a : axes_) out.shape.push_back(in.shape[static_cast<std::size_t>(a)]);
    return out;
}

void transpose_op::run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows,
                       const sample_desc& in) const {
    const sample_desc out = infer(in);
    const std::size_t ndim = in.shape.size();
    if (ndim == 0 || out.elements() == 0) {
        std::memcpy(dst.data(), src.data(), std::min(src.size(), dst.size()));
        return;
    }
    // Stride in src (in elements) of each output axis.
    std::vector<std::uint64_t> in_stride(ndim, 1), src_stride(ndim);
    for (std::size_t d = ndim - 1; d-- > 0;) in_stride[d] = in_stride[d + 1] * in.shape[d + 1];
    for (std::size_t d = 0; d < ndim; ++d) src_stride[d] = in_stride[static_cast<std::size_t>(axes_[d])];
    const std::uint64_t sample_bytes = in.bytes();
    for (std::size_t r = 0; r < rows; ++r) {
        const std::byte* s = src.data() + r * sample_bytes;
        std::byte* d = dst.data() + r * sample_bytes;
        switch (itemsize(in.type)) {
        case 1: permute<bytes_item<1>>(s, d, out.shape, src_stride); break;
        case 2: permute<bytes_item<2>>(s, d, out.shape, src_stride); break;
        case 4: permute<bytes_item<4>>(s, d, out.shape, src_stride); break;
        default: permute<bytes_item<8>>(s, d, out.shape, src_stride); break;
        }
    }
}

}  // namespace npyflow
