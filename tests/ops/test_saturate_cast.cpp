#include <cmath>
#include <cstring>
#include <limits>

#include <catch2/catch.hpp>

#include "npyflow/ops/saturate_cast.hpp"

using namespace npyflow;

TEST_CASE("saturate_cast.float_to_integer_truncates_and_saturates", "[ops][cast]") {
    CHECK(saturate_cast<std::uint8_t>(255.9f) == 255);
    CHECK(saturate_cast<std::uint8_t>(256.0f) == 255);
    CHECK(saturate_cast<std::uint8_t>(-0.5f) == 0);
    CHECK(saturate_cast<std::uint8_t>(-300.0) == 0);
    CHECK(saturate_cast<std::int8_t>(-128.9) == -128);
    CHECK(saturate_cast<std::int8_t>(-127.9) == -127);
    CHECK(saturate_cast<std::int8_t>(127.9f) == 127);
    CHECK(saturate_cast<std::int32_t>(std::nanf("")) == 0);
    CHECK(saturate_cast<std::int64_t>(1e30) == std::numeric_limits<std::int64_t>::max());
    CHECK(saturate_cast<std::int64_t>(-1e30) == std::numeric_limits<std::int64_t>::min());
    CHECK(saturate_cast<std::uint64_t>(1.8446744073709552e19) == std::numeric_limits<std::uint64_t>::max());
    CHECK(saturate_cast<std::uint64_t>(std::numeric_limits<double>::infinity()) ==
          std::numeric_limits<std::uint64_t>::max());
}

TEST_CASE("saturate_cast.integer_to_integer_saturates_exactly", "[ops][cast]") {
    CHECK(saturate_cast<std::uint8_t>(std::int16_t{300}) == 255);
    CHECK(saturate_cast<std::uint8_t>(std::int16_t{-1}) == 0);
    CHECK(saturate_cast<std::int16_t>(std::uint64_t{1} << 63) == 32767);
    CHECK(saturate_cast<std::uint64_t>(std::int64_t{-5}) == 0);
    // Exact above 2^53, where a detour through double would round.
    CHECK(saturate_cast<std::uint64_t>(std::int64_t{9007199254740993}) == 9007199254740993u);
    CHECK(saturate_cast<std::int64_t>(std::uint64_t{9007199254740993}) == 9007199254740993);
    CHECK(saturate_cast<std::int32_t>(true) == 1);
    CHECK(saturate_cast<bool>(std::int8_t{-3}));
    CHECK_FALSE(saturate_cast<bool>(0.0f));
    CHECK(saturate_cast<bool>(std::nanf("")));  // numpy: bool(nan) is True
}

TEST_CASE("saturate_cast.float16_both_ways", "[ops][cast]") {
    // Every half survives a trip through float and back, bit for bit (NaNs stay NaN).
    for (std::uint32_t bits = 0; bits <= 0xFFFF; ++bits) {
        const auto h = static_cast<std::uint16_t>(bits);
        const float f = half_to_float(h);
        const std::uint16_t back = float_to_half(f);
        if (std::isnan(f)) {
            CHECK(std::isnan(half_to_float(back)));
        } else if (back != h) {
            FAIL("half 0x" << std::hex << bits << " came back as 0x" << back);
        }
    }
    // Rounding: to nearest, ties to even; overflow to infinity.
    CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3C00);        // tie, rounds to even
    CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3C02);    // tie, rounds up to even
    CHECK(float_to_half(65519.0f) == 0x7BFF);
    CHECK(float_to_half(65520.0f) == 0x7C00);
    CHECK(float_to_half(-1e10f) == 0xFC00);
    CHECK(float_to_half(std::ldexp(1.0f, -25)) == 0x0000);               // tie below the smallest subnormal
    CHECK(float_to_half(std::ldexp(1.5f, -25)) == 0x0001);
    CHECK(saturate_cast<half_bits>(std::uint8_t{200}).bits == 0x5A40);
    CHECK(saturate_cast<std::int16_t>(half_bits{0xC500}) == -5);
}
