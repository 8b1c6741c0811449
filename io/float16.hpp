#pragma once
// IEEE 754 half precision <-> single precision. Half to float is exact; float to half
// rounds to nearest even, overflows to infinity and keeps NaN, as numpy does.

#include <bit>
#include <cstdint>

namespace npyflow {

inline float half_to_float(std::uint16_t h) {
    const std::uint32_t sign = std::uint32_t{h & 0x8000u} << 16;
    const std::uint32_t exponent = (h >> 10) & 0x1Fu;
    std::uint32_t mantissa = h & 0x3FFu;
    std::uint32_t bits = 0;
    if (exponent == 0x1F) {  // inf or NaN
        bits = sign | 0x7F800000u | (mantissa << 13);
    } else if (exponent != 0) {  // normal
        bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
    } else if (mantissa != 0) {  // subnormal: normalise into a float
        int shift = 0;
        while ((mantissa & 0x400u) == 0) {
            mantissa <<= 1;
            ++shift;
        }
        bits = sign | (static_cast<std::uint32_t>(113 - shift) << 23) | ((mantissa & 0x3FFu) << 13);
    } else {
        bits = sign;  // signed zero
    }
    return std::bit_cast<float>(bits);
}

inline std::uint16_t float_to_half(float f) {
    const std::uint32_t bits = std::bit_cast<std::uint32_t>(f);
    const auto sign = static_cast<std::uint16_t>((bits >> 16) & 0x8000u);
    const std::uint32_t abs = bits & 0x7FFFFFFFu;
    if (abs > 0x7F800000u) return static_cast<std::uint16_t>(sign | 0x7E00u);  // NaN
    if (abs >= 0x477FF000u) return static_cast<std::uint16_t>(sign | 0x7C00u);  // rounds past 65504: inf
    if (abs < 0x38800000u) {  // below the smallest normal half: subnormal or zero
        // Scale into the subnormal range by adding 0.5, which makes the FPU round for us.
        const float rounded = std::bit_cast<float>(abs) + 0.5f;
        return static_cast<std::uint16_t>(sign | (std::bit_cast<std::uint32_t>(rounded) - 0x3F000000u));
    }
    // Normal: rebias the exponent, round the 13 dropped mantissa bits to nearest even.
    const std::uint32_t odd = (abs >> 13) & 1u;
    const std::uint32_t rounded = abs + 0x0FFFu + odd - 0x38000000u;
    return static_cast<std::uint16_t>(sign | (rounded >> 13));
}

}  // namespace npyflow
