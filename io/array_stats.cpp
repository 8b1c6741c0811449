#include "io/array_stats.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>

#include "io/float16.hpp"

namespace npyflow {
namespace {

template <typename T>
T load(const std::byte* p, bool swap) {
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), p, sizeof(T));
    if (swap) std::reverse(raw.begin(), raw.end());
    return std::bit_cast<T>(raw);
}

double element(dtype type, const std::byte* p, bool swap) {
    switch (type) {
    case dtype::bool_: return std::to_integer<int>(*p) != 0 ? 1.0 : 0.0;
    case dtype::int8: return load<std::int8_t>(p, swap);
    case dtype::int16: return load<std::int16_t>(p, swap);
    case dtype::int32: return load<std::int32_t>(p, swap);
    case dtype::int64: return static_cast<double>(load<std::int64_t>(p, swap));
    case dtype::uint8: return load<std::uint8_t>(p, swap);
    case dtype::uint16: return load<std::uint16_t>(p, swap);
    case dtype::uint32: return load<std::uint32_t>(p, swap);
    case dtype::uint64: return static_cast<double>(load<std::uint64_t>(p, swap));
    case dtype::float16: return half_to_float(load<std::uint16_t>(p, swap));
    case dtype::float32: return load<float>(p, swap);
    case dtype::float64: return load<double>(p, swap);
    }
    return 0.0;
}

}  // namespace

void array_stats_accumulator::add(std::span<const std::byte> elements) {
    const std::size_t item = itemsize(type_);
    const bool swap = order_ == byte_order::big;
    for (std::size_t i = 0; i + item <= elements.size(); i += item) {
        const double v = element(type_, elements.data() + i, swap);
        ++count_;
        if (std::isnan(v)) {
            ++nan_count_;
            continue;
        }
        if (finite_count_ == 0) {
            min_ = max_ = v;
        } else {
            min_ = std::min(min_, v);
            max_ = std::max(max_, v);
        }
        ++finite_count_;
        sum_ += v;
    }
}

array_stats array_stats_accumulator::result() const {
    array_stats s;
    s.count = count_;
    s.nan_count = nan_count_;
    if (finite_count_ > 0) {
        s.min = min_;
        s.max = max_;
        s.mean = static_cast<double>(sum_ / static_cast<long double>(finite_count_));
    }
    return s;
}

}  // namespace npyflow
