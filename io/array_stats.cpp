#include "npyflow/io/array_stats.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>

#include "npyflow/io/float16.hpp"

namespace npyflow {
namespace {

template <typename T>
T load(const std::byte* p, bool swap) {
    std::array<std::byte, sizeof(T)> raw;
    std::memcpy(raw.data(), p, sizeof(T));
    if (swap) std::reverse(raw.begin(), raw.end());
    return std::bit_cast<T>(raw);
}

// One chunk's figures, in plain doubles so the loop stays in registers; the caller folds
// them into its long double total once per chunk.
struct chunk_stats {
    std::uint64_t nan_count = 0;
    std::uint64_t finite_count = 0;
    double min = std::numeric_limits<double>::infinity();
    double max = -std::numeric_limits<double>::infinity();
    double sum = 0;
};

// Stored is the element type as stored; to_value turns one into a double.
template <typename Stored, typename ToValue>
chunk_stats scan(std::span<const std::byte> elements, bool swap, ToValue to_value) {
    chunk_stats c;
    const std::size_t n = elements.size() / sizeof(Stored);
    for (std::size_t i = 0; i < n; ++i) {
        const double v = to_value(load<Stored>(elements.data() + i * sizeof(Stored), swap));
        if (std::isnan(v)) {
            ++c.nan_count;
            continue;
        }
        c.min = std::min(c.min, v);
        c.max = std::max(c.max, v);
        c.sum += v;
        ++c.finite_count;
    }
    return c;
}

template <typename Stored>
chunk_stats scan_as_double(std::span<const std::byte> elements, bool swap) {
    return scan<Stored>(elements, swap, [](Stored v) { return static_cast<double>(v); });
}

chunk_stats scan(dtype type, std::span<const std::byte> elements, bool swap) {
    switch (type) {
    case dtype::bool_: return scan<std::uint8_t>(elements, swap, [](std::uint8_t v) { return v != 0 ? 1.0 : 0.0; });
    case dtype::int8: return scan_as_double<std::int8_t>(elements, swap);
    case dtype::int16: return scan_as_double<std::int16_t>(elements, swap);
    case dtype::int32: return scan_as_double<std::int32_t>(elements, swap);
    case dtype::int64: return scan_as_double<std::int64_t>(elements, swap);
    case dtype::uint8: return scan_as_double<std::uint8_t>(elements, swap);
    case dtype::uint16: return scan_as_double<std::uint16_t>(elements, swap);
    case dtype::uint32: return scan_as_double<std::uint32_t>(elements, swap);
    case dtype::uint64: return scan_as_double<std::uint64_t>(elements, swap);
    case dtype::float16: return scan<std::uint16_t>(elements, swap, [](std::uint16_t v) { return double{half_to_float(v)}; });
    case dtype::float32: return scan_as_double<float>(elements, swap);
    case dtype::float64: return scan_as_double<double>(elements, swap);
    }
    return {};
}

// Chunks are scanned in pieces this long, so each double partial sum covers few elements.
constexpr std::size_t piece_elements = 1 << 14;

}  // namespace

void array_stats_accumulator::add(std::span<const std::byte> elements) {
    const std::size_t item = itemsize(type_);
    const bool swap = order_ == byte_order::big;
    for (std::size_t at = 0; at + item <= elements.size(); at += piece_elements * item) {
        const auto piece = elements.subspan(at, std::min(piece_elements * item, elements.size() - at));
        const chunk_stats c = scan(type_, piece, swap);
        count_ += piece.size() / item;
        nan_count_ += c.nan_count;
        if (c.finite_count == 0) continue;
        min_ = finite_count_ == 0 ? c.min : std::min(min_, c.min);
        max_ = finite_count_ == 0 ? c.max : std::max(max_, c.max);
        finite_count_ += c.finite_count;
        sum_ += c.sum;
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
