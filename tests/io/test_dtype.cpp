#include <catch2/catch.hpp>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/error.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;

TEST_CASE("dtype.descr.every_supported_type_round_trips", "[io][dtype]") {
    for (auto t : {dtype::bool_, dtype::int8, dtype::int16, dtype::int32, dtype::int64, dtype::uint8, dtype::uint16,
                   dtype::uint32, dtype::uint64, dtype::float16, dtype::float32, dtype::float64}) {
        for (auto order : {byte_order::little, byte_order::big}) {
            const auto text = descr_string(t, order);
            const auto parsed = parse_descr(text);
            CHECK(parsed.type == t);
            CHECK(parsed.order == (itemsize(t) == 1 ? byte_order::none : order));
            CHECK(dtype_from_name(name(t)) == t);
        }
    }
}

TEST_CASE("dtype.descr.numpy_spellings", "[io][dtype]") {
    CHECK(descr_string(dtype::float32) == "<f4");
    CHECK(descr_string(dtype::uint8, byte_order::big) == "|u1");
    CHECK(descr_string(dtype::bool_) == "|b1");
    CHECK(descr_string(dtype::int64, byte_order::big) == ">i8");
    CHECK(parse_descr("<i1").order == byte_order::none);  // byte order is irrelevant for one byte
    CHECK(name(dtype::bool_) == "bool");
    CHECK(itemsize(dtype::float16) == 2);
    CHECK(name(byte_order::none) == "none");
}

TEST_CASE("dtype.descr.rejects_what_npyflow_cannot_hold", "[io][dtype]") {
    CHECK_THROWS_WITH(parse_descr("<c16"), Contains("complex"));
    CHECK_THROWS_WITH(parse_descr("|O"), Contains("only as weights, never as data"));
    CHECK_THROWS_WITH(parse_descr("|S5"), Contains("byte string"));
    CHECK_THROWS_WITH(parse_descr("<M8[ns]"), Contains("datetime"));
    CHECK_THROWS_WITH(parse_descr("<m8[s]"), Contains("timedelta"));
    CHECK_THROWS_WITH(parse_descr("<V2"), Contains("bfloat16"));
    CHECK_THROWS_WITH(parse_descr("<f1"), Contains("unknown dtype '<f1'"));
    CHECK_THROWS_WITH(parse_descr("<f16"), Contains("unknown dtype"));
    CHECK_THROWS_WITH(parse_descr("=f4"), Contains("byte order must be"));
    CHECK_THROWS_WITH(parse_descr("|f4"), Contains("needs '<' or '>'"));
    CHECK_THROWS_WITH(parse_descr(""), Contains("unknown dtype ''"));
    CHECK_THROWS_AS(parse_descr("f4"), error);
}
