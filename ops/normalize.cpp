#include "npyflow/ops/normalize.hpp"

#include "npyflow/ops/kernel_clones.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

template <typename T>
NPYFLOW_KERNEL void normalize(std::span<T> values, T mean, T std) {
    for (auto& v : values) v = (v - mean) / std;
}

template <typename T>
NPYFLOW_KERNEL void normalize(std::span<T> values, const T* mean, const T* std) {
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = (values[i] - mean[i]) / std[i];
}

}  // namespace

normalize_op::normalize_op(std::vector<double> mean, std::vector<double> std, int axis)
    : mean_(std::move(mean)), std_(std::move(std)), axis_(axis) {
    if (mean_.empty() || mean_.size() != std_.size()) {
        throw error(fmt::format("'mean' and 'std' need the same number of values, one per channel (got {} and {})",
                                mean_.size(), std_.size()));
    }
    for (double s : std_) {
        if (!(s > 0)) throw error(fmt::format("'std' values must be positive, got {}", s));
    }
}

sample_desc normalize_op::infer(const sample_desc& in) const {
    const sample_desc out = elementwise_op::infer(in);
    if (mean_.size() == 1) return out;
    const auto ndim = static_cast<int>(in.shape.size());
    if (axis_ < -ndim || axis_ >= ndim) {
        throw error(fmt::format("axis {} is out of range for samples of shape {}", axis_, format_shape(in.shape)));
    }
    const auto axis = static_cast<std::size_t>(axis_ < 0 ? axis_ + ndim : axis_);
    if (in.shape[axis] != mean_.size()) {
        throw error(fmt::format("{} channels given, but axis {} of samples {} has {}", mean_.size(), axis_,
                                format_shape(in.shape), in.shape[axis]));
    }
    return out;
}

void normalize_op::prepare(const sample_desc& in) {
    if (mean_.size() == 1) return;
    const auto ndim = static_cast<int>(in.shape.size());
    const auto axis = static_cast<std::size_t>(axis_ < 0 ? axis_ + ndim : axis_);
    std::uint64_t inner = 1;  // positions per step of the channel axis
    for (std::size_t d = axis + 1; d < in.shape.size(); ++d) inner *= in.shape[d];
    const std::size_t n = in.elements();
    mean_f_.resize(n);
    std_f_.resize(n);
    mean_d_.resize(n);
    std_d_.resize(n);
    for (std::size_t p = 0; p < n; ++p) {
        const std::size_t c = (p / inner) % mean_.size();
        mean_d_[p] = mean_[c];
        std_d_[p] = std_[c];
        mean_f_[p] = static_cast<float>(mean_[c]);
        std_f_[p] = static_cast<float>(std_[c]);
    }
}

void normalize_op::apply(std::span<float> values, std::size_t position) const {
    if (mean_.size() == 1) return normalize(values, static_cast<float>(mean_[0]), static_cast<float>(std_[0]));
    normalize(values, mean_f_.data() + position, std_f_.data() + position);
}

void normalize_op::apply(std::span<double> values, std::size_t position) const {
    if (mean_.size() == 1) return normalize(values, mean_[0], std_[0]);
    normalize(values, mean_d_.data() + position, std_d_.data() + position);
}

}  // namespace npyflow
