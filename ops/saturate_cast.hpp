#pragma once
// Value conversion between the element types. Narrowing saturates: out-of-range values clamp
// to the target's limits and NaN becomes 0 for integer targets; floats truncate toward zero
// when converted to integers (as numpy's astype does for in-range values). bool targets take
// "not zero" (NaN is true, as in numpy); float16 is stored as its raw bits.

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>
#include <utility>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/float16.hpp"

namespace npyflow {

// float16 travels as its bits in a distinct type, so it is never mistaken for uint16.
struct half_bits {
    std::uint16_t bits;
};

template <typename T>
inline constexpr bool is_float_like = std::is_floating_point_v<T> || std::is_same_v<T, half_bits>;

template <typename To, typename From>
To saturate_cast(From v) {
    if constexpr (std::is_same_v<From, half_bits>) {
        return saturate_cast<To>(half_to_float(v.bits));
    } else if constexpr (std::is_same_v<To, From>) {
        return v;
    } else if constexpr (std::is_same_v<To, half_bits>) {
        return half_bits{float_to_half(static_cast<float>(v))};
    } else if constexpr (std::is_same_v<To, bool>) {
        return v != From{0};
    } else if constexpr (std::is_floating_point_v<To>) {
        return static_cast<To>(v);
    } else if constexpr (std::is_floating_point_v<From>) {
        // Compare in the source type against bounds it holds exactly: -2^k and 2^k.
        constexpr From lo = static_cast<From>(std::numeric_limits<To>::min());
        constexpr From hi = static_cast<From>(std::numeric_limits<To>::max() / 2 + 1) * From{2};
        if (std::isnan(v)) return To{0};
        if (v <= lo) return std::numeric_limits<To>::min();
        if (v >= hi) return std::numeric_limits<To>::max();
        return static_cast<To>(v);
    } else if constexpr (std::is_same_v<From, bool>) {
        return static_cast<To>(v ? 1 : 0);
    } else {
        if (std::cmp_less(v, std::numeric_limits<To>::min())) return std::numeric_limits<To>::min();
        if (std::cmp_greater(v, std::numeric_limits<To>::max())) return std::numeric_limits<To>::max();
        return static_cast<To>(v);
    }
}

// Calls fn with a value of the C++ type that holds elements of t (half_bits for float16).
template <typename Fn>
decltype(auto) visit_dtype(dtype t, Fn&& fn) {
    switch (t) {
    case dtype::bool_: return fn(bool{});
    case dtype::int8: return fn(std::int8_t{});
    case dtype::int16: return fn(std::int16_t{});
    case dtype::int32: return fn(std::int32_t{});
    case dtype::int64: return fn(std::int64_t{});
    case dtype::uint8: return fn(std::uint8_t{});
    case dtype::uint16: return fn(std::uint16_t{});
    case dtype::uint32: return fn(std::uint32_t{});
    case dtype::uint64: return fn(std::uint64_t{});
    case dtype::float16: return fn(half_bits{});
    case dtype::float32: return fn(float{});
    case dtype::float64: return fn(double{});
    }
    return fn(float{});
}

}  // namespace npyflow
