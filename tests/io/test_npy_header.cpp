#include <cstring>
#include <string>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;

namespace {

// The preamble for a header text, in the given format version, unpadded.
std::string preamble(const std::string& header, int version = 1) {
    std::string out = "\x93NUMPY";
    out.push_back(static_cast<char>(version));
    out.push_back('\0');
    const std::size_t width = version == 1 ? 2 : 4;
    for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<char>((header.size() >> (8 * i)) & 0xFF));
    return out + header;
}

npy_header parse(const std::string& file) {
    return parse_npy_header(std::as_bytes(std::span(file.data(), file.size())), file.size());
}

}  // namespace

TEST_CASE("npy_header.format.matches_numpy_byte_for_byte", "[io][npy_header]") {
    // np.save of np.zeros((37, 29), np.float32): header text as numpy 1.24 writes it.
    const std::string numpy_header =
        "{'descr': '<f4', 'fortran_order': False, 'shape': (37, 29), }" + std::string(56, ' ') + "\n";
    const auto ours = format_npy_header(dtype::float32, {37, 29});
    CHECK(ours == preamble(numpy_header));
    CHECK(ours.size() % 64 == 0);
    CHECK(format_shape({}) == "()");
    CHECK(format_shape({3}) == "(3,)");
    CHECK(format_shape({3, 0, 2}) == "(3, 0, 2)");
}

TEST_CASE("npy_header.parse.round_trips_formatted_headers", "[io][npy_header]") {
    for (bool fortran : {false, true}) {
        for (auto order : {byte_order::little, byte_order::big}) {
            const auto text = format_npy_header(dtype::int16, {4, 5, 6}, fortran, order);
            const auto h = parse(text);
            CHECK(h.type == dtype::int16);
            CHECK(h.order == order);
            CHECK(h.fortran_order == fortran);
            CHECK(h.shape == std::vector<std::uint64_t>{4, 5, 6});
            CHECK(h.data_offset == text.size());
            CHECK(h.data_bytes() == 4 * 5 * 6 * 2);
            CHECK(h.is_native_layout() == (!fortran && order == byte_order::little));
        }
    }
}

TEST_CASE("npy_header.parse.accepts_what_numpy_accepts", "[io][npy_header]") {
    SECTION("keys in any order, double quotes, no trailing comma, no newline, 16-byte padding") {
        const auto h = parse(preamble("{\"shape\": (2,3), \"descr\": \"<f8\", \"fortran_order\": True}     "));
        CHECK(h.type == dtype::float64);
        CHECK(h.fortran_order);
        CHECK(h.shape == std::vector<std::uint64_t>{2, 3});
    }
    SECTION("version 2 and 3 headers with 4-byte lengths") {
        const std::string header = "{'descr': '|u1', 'fortran_order': False, 'shape': (7,), }\n";
        for (int version : {2, 3}) {
            const auto h = parse(preamble(header, version));
            CHECK(h.version == version);
            CHECK(h.data_offset == 12 + header.size());
            CHECK(h.order == byte_order::none);
        }
    }
    SECTION("0-d and empty arrays") {
        const auto scalar = parse(preamble("{'descr': '<i8', 'fortran_order': False, 'shape': (), }"));
        CHECK(scalar.shape.empty());
        CHECK(scalar.element_count() == 1);
        const auto empty = parse(preamble("{'descr': '<f4', 'fortran_order': False, 'shape': (0, 5), }"));
        CHECK(empty.element_count() == 0);
        CHECK(empty.data_bytes() == 0);
        // An empty array holds no bytes; its other dimensions need only fit numpy's size (below).
        CHECK(parse(preamble("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 576460752303423488), }"))
                  .data_bytes() == 0);
    }
    SECTION("Python 2 long integers") {
        CHECK(parse(preamble("{'descr': '<f4', 'fortran_order': False, 'shape': (3L, 4L), }")).shape ==
              std::vector<std::uint64_t>{3, 4});
    }
    SECTION("Fortran order with one dimension above 1 is already C order") {
        CHECK(parse(preamble("{'descr': '<f4', 'fortran_order': True, 'shape': (1, 5, 1), }")).is_c_contiguous());
        CHECK_FALSE(parse(preamble("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 5), }")).is_c_contiguous());
    }
}

TEST_CASE("npy_header.parse.rejects_bad_headers_with_a_reason", "[io][npy_header]") {
    auto rejects = [](const std::string& header, const std::string& reason) {
        INFO(header);
        CHECK_THROWS_WITH(parse(preamble(header)), Contains(reason));
    };
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'shape': (2,)}", "key 'shape' twice");
    rejects("{'descr': '<f4', 'fortran_order': False}", "lacks the key 'shape'");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), 'x': 1}", "unexpected key 'x'");
    rejects("{'descr': '<f4', 'fortran_order': 'no', 'shape': (2,)}", "'fortran_order' must be True or False");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': [2]}", "'shape' must be a tuple");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': 2}", "'shape' must be a tuple");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -1)}", "negative dimension -1");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 1e3)}", "'1e3' in shape is not an integer");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (+2,)}", "'+2' in shape is not an integer");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2,,)}", "expected a value");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2 3)}", "expected ',' or ')'");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (9223372036854775808,)}", "too large");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (4611686018427387904, 2)}", "overflows 63 bits");
    // numpy refuses this although it holds no bytes ("array is too big"): 8 x 2^62 overflows.
    rejects("{'descr': '<f8', 'fortran_order': False, 'shape': (0, 4611686018427387904)}", "too big for numpy");
    rejects("{'descr': 4, 'fortran_order': False, 'shape': (2,)}", "'descr' must be a string");
    rejects("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (2,)}", "structured arrays");
    rejects("{'descr': '|O', 'fortran_order': False, 'shape': (2,)}", "only as weights, never as data");
    rejects("{'descr': 'a\\'b', 'fortran_order': False, 'shape': (2,)}", "escape sequence");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)", "expected ',' or '}'");
    rejects("{'descr': '<f4'", "expected ',' or '}'");
    rejects("{'descr' '<f4'}", "expected ':'");
    rejects("{'descr': '<f4", "unterminated string");
    rejects("", "expected '{'");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)} x", "unexpected text after the dict");
    rejects("{'descr': '<f4', 'fortran_order': False, 'shape': (2,)}\x01", "control byte 0x01");

    std::string many = "{'descr': '<f4', 'fortran_order': False, 'shape': (";
    for (int i = 0; i < 65; ++i) many += "1, ";
    rejects(many + ")}", "65 dimensions");
}

TEST_CASE("npy_header.parse.rejects_bad_preambles", "[io][npy_header]") {
    const std::string good = format_npy_header(dtype::float32, {2});
    CHECK_THROWS_WITH(parse(""), Contains("bad magic"));
    CHECK_THROWS_WITH(parse("\x93NUMPZ" + good.substr(6)), Contains("bad magic"));
    CHECK_THROWS_WITH(parse(good.substr(0, 9)), Contains("too short"));
    std::string v4 = good;
    v4[6] = '\x04';
    CHECK_THROWS_WITH(parse(v4), Contains("version 4.0"));
    // The header length is checked against the whole file, not just the prefix handed in.
    const std::string header_only = good.substr(0, 20);
    CHECK_THROWS_WITH(parse_npy_header(std::as_bytes(std::span(header_only.data(), header_only.size())), 20),
                      Contains("runs past the end of the file (20 bytes)"));
    std::string v2_huge = "\x93NUMPY\x02" + std::string(1, '\0') + std::string("\xF0\xFF\xFF\xFF", 4) + "{}";
    CHECK_THROWS_WITH(parse(v2_huge), Contains("header length 4294967280 runs past the end"));
    const std::string long_header = "{" + std::string(10001, ' ') + "}";
    CHECK_THROWS_WITH(parse(preamble(long_header, 2)), Contains("over numpy's limit of 10000"));
}
