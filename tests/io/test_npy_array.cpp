#include <algorithm>
#include <cstring>
#include <numeric>
#include <thread>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using test::bytes_of;

namespace {

std::vector<std::byte> counting_bytes(std::size_t n) {
    std::vector<std::byte> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::byte>((i * 7 + 3) & 0xFF);
    return v;
}

// An .npy file's bytes: a header as format_npy_header writes it, then `data` as given.
std::vector<std::byte> npy_file(dtype t, const std::vector<std::uint64_t>& shape, bool fortran, byte_order order,
                                std::span<const std::byte> data) {
    const auto header = format_npy_header(t, shape, fortran, order);
    std::vector<std::byte> out(header.size() + data.size());
    std::memcpy(out.data(), header.data(), header.size());
    if (!data.empty()) std::memcpy(out.data() + header.size(), data.data(), data.size());
    return out;
}

std::vector<std::byte> all_rows(const npy_array& a) {
    std::vector<std::byte> out(a.rows() * a.row_bytes());
    a.copy_rows(0, a.rows(), out);
    return out;
}

}  // namespace

TEST_CASE("npy_array.round_trip.every_dtype_through_the_writer", "[io][npy_array]") {
    test::scratch_dir dir;
    for (auto t : {dtype::bool_, dtype::int8, dtype::int16, dtype::int32, dtype::int64, dtype::uint8, dtype::uint16,
                   dtype::uint32, dtype::uint64, dtype::float16, dtype::float32, dtype::float64}) {
        INFO(name(t));
        const std::vector<std::uint64_t> shape{5, 3, 2};
        auto data = counting_bytes(5 * 3 * 2 * itemsize(t));
        if (t == dtype::bool_) std::transform(data.begin(), data.end(), data.begin(), [](auto b) { return b & std::byte{1}; });
        const auto path = dir / (std::string(name(t)) + ".npy");
        write_npy(path, t, shape, data);
        const auto a = open_npy(path);
        CHECK(a.header().type == t);
        CHECK(a.header().shape == shape);
        CHECK(a.rows() == 5);
        CHECK(a.row_bytes() == 3 * 2 * itemsize(t));
        const auto view = a.row_view(0, 5);
        CHECK(std::equal(view.begin(), view.end(), data.begin(), data.end()));
        CHECK(all_rows(a) == data);
    }
}

TEST_CASE("npy_array.copy_rows.fortran_order_becomes_c_order", "[io][npy_array]") {
    // value(i, j, k) = 100i + 10j + k, laid out in Fortran order: offset i + 4(j + 3k).
    const std::vector<std::uint64_t> shape{4, 3, 2};
    std::vector<std::int32_t> fortran(24), c_order(24);
    for (int i = 0; i < 4; ++i) {
        for (int j = 0; j < 3; ++j) {
            for (int k = 0; k < 2; ++k) {
                fortran[static_cast<std::size_t>(i + 4 * (j + 3 * k))] = 100 * i + 10 * j + k;
                c_order[static_cast<std::size_t>(i * 6 + j * 2 + k)] = 100 * i + 10 * j + k;
            }
        }
    }
    const auto file = npy_file(dtype::int32, shape, true, byte_order::little, bytes_of(fortran));
    const auto a = parse_npy(file, nullptr, "f.npy");
    CHECK_FALSE(a.header().is_native_layout());
    CHECK(all_rows(a) == std::vector<std::byte>(bytes_of(c_order).begin(), bytes_of(c_order).end()));

    std::vector<std::int32_t> middle(2 * 6);
    a.copy_rows(1, 2, std::as_writable_bytes(std::span(middle)));
    CHECK(std::equal(middle.begin(), middle.end(), c_order.begin() + 6));
    CHECK_THROWS_WITH(a.row_view(0, 1), Contains("Fortran-ordered array cannot be viewed in place"));
}

TEST_CASE("npy_array.copy_rows.big_endian_is_swapped", "[io][npy_array]") {
    const std::vector<std::uint16_t> values{0x0102, 0x0304, 0xA0B0, 0xFFFE, 0x0000, 0x1234};
    std::vector<std::byte> big;
    for (auto v : values) {
        big.push_back(static_cast<std::byte>(v >> 8));
        big.push_back(static_cast<std::byte>(v & 0xFF));
    }
    const auto file = npy_file(dtype::uint16, {3, 2}, false, byte_order::big, big);
    const auto a = parse_npy(file, nullptr, "be.npy");
    std::vector<std::uint16_t> out(6);
    a.copy_rows(0, 3, std::as_writable_bytes(std::span(out)));
    CHECK(out == values);
    CHECK_THROWS_WITH(a.row_view(0, 1), Contains("big-endian array cannot be viewed in place"));

    // Big endian and Fortran order together.
    std::vector<std::byte> big_fortran;
    for (std::size_t f = 0; f < 6; ++f) {
        const auto v = values[(f % 3) * 2 + f / 3];  // Fortran position f holds element (f % 3, f / 3)
        big_fortran.push_back(static_cast<std::byte>(v >> 8));
        big_fortran.push_back(static_cast<std::byte>(v & 0xFF));
    }
    const auto both_file = npy_file(dtype::uint16, {3, 2}, true, byte_order::big, big_fortran);
    const auto both = parse_npy(both_file, nullptr, "x");
    std::fill(out.begin(), out.end(), 0);
    both.copy_rows(0, 3, std::as_writable_bytes(std::span(out)));
    CHECK(out == values);
}

TEST_CASE("npy_array.shapes.zero_d_and_empty", "[io][npy_array]") {
    const double pi = 3.25;
    const auto scalar_file = npy_file(dtype::float64, {}, false, byte_order::little, std::as_bytes(std::span(&pi, 1)));
    const auto scalar = parse_npy(scalar_file, nullptr, "s");
    CHECK(scalar.rows() == 1);
    CHECK(scalar.row_elements() == 1);
    double out = 0;
    scalar.copy_rows(0, 1, std::as_writable_bytes(std::span(&out, 1)));
    CHECK(out == pi);

    const auto empty_file = npy_file(dtype::float32, {0, 7}, false, byte_order::little, {});
    const auto empty = parse_npy(empty_file, nullptr, "e");
    CHECK(empty.rows() == 0);
    CHECK(empty.row_view(0, 0).empty());
    const auto no_columns_file = npy_file(dtype::uint8, {3, 0}, true, byte_order::little, {});
    const auto no_columns = parse_npy(no_columns_file, nullptr, "z");
    CHECK(no_columns.rows() == 3);
    CHECK(no_columns.row_bytes() == 0);
}

TEST_CASE("npy_array.errors.short_data_and_ranges", "[io][npy_array]") {
    const auto data = counting_bytes(10);
    const auto file = npy_file(dtype::float32, {3}, false, byte_order::little, data);
    CHECK_THROWS_WITH(parse_npy(file, nullptr, "short.npy"),
                      Contains("short.npy: data is shorter than the shape declares: (3,) float32 needs 12 bytes, found 10"));
    const auto ok_file = npy_file(dtype::uint8, {10}, false, byte_order::little, data);
    const auto ok = parse_npy(ok_file, nullptr, "ok.npy");
    CHECK_THROWS_WITH(ok.row_view(8, 3), Contains("ok.npy: rows [8, 11) are out of range (10 rows)"));
    std::vector<std::byte> small(2);
    CHECK_THROWS_WITH(ok.copy_rows(0, 3, small), Contains("destination holds 2 bytes"));
    CHECK_THROWS_WITH(open_npy("/nonexistent/x.npy"), Contains("/nonexistent/x.npy: cannot open"));
    test::scratch_dir dir;
    CHECK_THROWS_WITH(open_npy(dir.path()), Contains("is a directory"));
}

TEST_CASE("npy_writer.rows_out_of_order_from_many_threads", "[io][npy_writer]") {
    test::scratch_dir dir;
    const auto path = dir / "out.npy";
    constexpr std::uint64_t rows = 1000;
    std::vector<std::uint32_t> expected(rows * 3);
    std::iota(expected.begin(), expected.end(), 0u);
    {
        npy_writer writer(path, dtype::uint32, {rows, 3});
        CHECK(std::filesystem::exists(dir / "out.npy.partial"));
        std::vector<std::thread> threads;
        for (std::uint64_t t = 0; t < 4; ++t) {
            threads.emplace_back([&, t] {
                // Each thread writes every 4th block of 10 rows, from the end backwards.
                for (std::uint64_t block = rows / 10; block-- > 0;) {
                    if (block % 4 != t) continue;
                    writer.write_rows(block * 10, bytes_of(expected).subspan(block * 10 * 12, 10 * 12));
                }
            });
        }
        for (auto& th : threads) th.join();
        CHECK_FALSE(std::filesystem::exists(path));  // nothing at the real name before commit
        writer.commit();
    }
    CHECK_FALSE(std::filesystem::exists(dir / "out.npy.partial"));
    const auto a = open_npy(path);
    const auto view = a.row_view(0, rows);
    CHECK(std::equal(view.begin(), view.end(), bytes_of(expected).begin(), bytes_of(expected).end()));
}

TEST_CASE("npy_writer.failed_job_leaves_no_file", "[io][npy_writer]") {
    test::scratch_dir dir;
    const auto path = dir / "out.npy";
    {
        npy_writer writer(path, dtype::float32, {4, 2});
        std::vector<float> half(4, 1.0f);
        writer.write_rows(0, bytes_of(half));
        CHECK_THROWS_WITH(writer.commit(), Contains("16 of 32 data bytes were written; not committing"));
        CHECK_THROWS_WITH(writer.write_rows(3, bytes_of(half)), Contains("rows [3, 5) are past the end (4 rows)"));
        CHECK_THROWS_WITH(writer.write_rows(0, bytes_of(half).first(5)), Contains("not a whole number of 8-byte rows"));
    }  // destroyed without commit
    CHECK_FALSE(std::filesystem::exists(path));
    CHECK_FALSE(std::filesystem::exists(dir / "out.npy.partial"));
    CHECK_THROWS_WITH(npy_writer(dir / "missing-dir" / "x.npy", dtype::uint8, {1}), Contains("cannot create"));
}
