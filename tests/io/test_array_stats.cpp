#include <cmath>
#include <cstring>
#include <limits>

#include <catch2/catch.hpp>

#include "npyflow/io/array_stats.hpp"
#include "npyflow/io/float16.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using test::bytes_of;

TEST_CASE("float16.half_to_float.exact_for_every_class", "[io][float16]") {
    CHECK(half_to_float(0x3C00) == 1.0f);
    CHECK(half_to_float(0xC000) == -2.0f);
    CHECK(half_to_float(0x7BFF) == 65504.0f);                 // largest normal
    CHECK(half_to_float(0x0400) == std::ldexp(1.0f, -14));    // smallest normal
    CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));    // smallest subnormal
    CHECK(half_to_float(0x03FF) == std::ldexp(1023.0f, -24)); // largest subnormal
    CHECK(std::signbit(half_to_float(0x8000)));
    CHECK(half_to_float(0x7C00) == std::numeric_limits<float>::infinity());
    CHECK(std::isnan(half_to_float(0x7E00)));
    CHECK(half_to_float(0x3555) == Approx(0.333251953125f).epsilon(0));
}

TEST_CASE("array_stats.floats_with_nan_in_any_chunking", "[io][stats]") {
    const std::vector<float> v{3.0f, std::nanf(""), -1.5f, 10.0f, std::nanf(""), 0.5f};
    for (std::size_t chunk : {4u, 8u, 24u}) {
        array_stats_accumulator acc(dtype::float32, byte_order::little);
        const auto bytes = bytes_of(v);
        for (std::size_t at = 0; at < bytes.size(); at += chunk) acc.add(bytes.subspan(at, std::min(chunk, bytes.size() - at)));
        const auto s = acc.result();
        CHECK(s.count == 6);
        CHECK(s.nan_count == 2);
        CHECK(s.min == -1.5);
        CHECK(s.max == 10.0);
        CHECK(s.mean == Approx(3.0));
    }
}

TEST_CASE("array_stats.big_endian_integers_and_empty", "[io][stats]") {
    const std::vector<std::uint8_t> big{0xFF, 0xFE, 0x00, 0x05, 0x80, 0x00};  // int16 -2, 5, -32768
    array_stats_accumulator acc(dtype::int16, byte_order::big);
    acc.add(std::as_bytes(std::span(big)));
    const auto s = acc.result();
    CHECK(s.min == -32768.0);
    CHECK(s.max == 5.0);
    CHECK(s.mean == Approx((-2.0 + 5 - 32768) / 3));
    CHECK(s.nan_count == 0);

    const auto none = array_stats_accumulator(dtype::float64, byte_order::little).result();
    CHECK(none.count == 0);
    CHECK_FALSE(none.min.has_value());
    CHECK_FALSE(none.mean.has_value());
}
