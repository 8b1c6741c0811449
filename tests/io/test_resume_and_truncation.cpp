// The io pieces of resumable jobs: continuing a partial .npy, and mapped files truncated
// by someone else while they are read.
#include <unistd.h>

#include <numeric>

#include <catch2/catch.hpp>

#include "npyflow/io/content_hash.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using test::bytes_of;

TEST_CASE("npy_writer.resume.continues_a_kept_partial_file", "[io][npy_writer][resume]") {
    test::scratch_dir dir;
    std::vector<std::uint16_t> v(40);
    std::iota(v.begin(), v.end(), 1);
    const auto rows = bytes_of(v);
    {
        npy_writer first(dir / "out.npy", dtype::uint16, {10, 4});
        first.write_rows(0, rows.first(6 * 8));
        first.write_rows(6, std::vector<std::byte>(8, std::byte{0xEE}));  // a row in flight at the crash: garbage
        first.keep_partial();
    }
    REQUIRE(std::filesystem::exists(dir / "out.npy.partial"));
    npy_writer resumed(dir / "out.npy", dtype::uint16, {10, 4}, 6);
    resumed.write_rows(6, rows.subspan(6 * 8));
    resumed.commit();
    write_npy(dir / "whole.npy", dtype::uint16, {10, 4}, rows);
    CHECK(test::read_file(dir / "out.npy") == test::read_file(dir / "whole.npy"));
}

TEST_CASE("npy_writer.resume.refuses_a_partial_file_of_another_output", "[io][npy_writer][resume]") {
    test::scratch_dir dir;
    {
        npy_writer first(dir / "out.npy", dtype::uint16, {10, 4});
        first.write_rows(0, std::vector<std::byte>(3 * 8));
        first.keep_partial();
    }
    CHECK_THROWS_WITH(npy_writer(dir / "out.npy", dtype::float32, {10, 4}, 3),
                      Contains("out.npy.partial: its header is not that of this job's output (float32 (10, 4))"));
    CHECK_THROWS_WITH(npy_writer(dir / "out.npy", dtype::uint16, {10, 4}, 5),
                      Contains("out.npy.partial: is 152 bytes, but the 5 rows its journal records need 168"));
    CHECK_THROWS_WITH(npy_writer(dir / "out.npy", dtype::uint16, {10, 4}, 11), Contains("cannot resume after row 11: this writer's rows are [0, 10)"));
    // A failed resume leaves the partial file for another try.
    CHECK(std::filesystem::exists(dir / "out.npy.partial"));
    CHECK_THROWS_WITH(npy_writer(dir / "none.npy", dtype::uint16, {10, 4}, 0),
                      Contains("none.npy.partial: cannot reopen: No such file or directory"));
}

TEST_CASE("npy_writer.file_size_limit_fails_at_the_write_that_crosses_it", "[io][npy_writer]") {
    // The output is never extended ahead of the rows, so a full disk shows up as a write error
    // on the row that does not fit, after the rows that did.
    test::scratch_dir dir;
    npy_writer w(dir / "out.npy", dtype::uint8, {1000, 100});
    w.write_rows(0, std::vector<std::byte>(100));
    CHECK(std::filesystem::file_size(dir / "out.npy.partial") == 128 + 100);
}

TEST_CASE("mapped_file.truncated_while_mapped.reads_zeros_and_says_so", "[io][mapped_file][truncation]") {
    test::scratch_dir dir;
    const long page = ::sysconf(_SC_PAGESIZE);
    std::vector<std::byte> content(static_cast<std::size_t>(page) * 8, std::byte{7});
    test::write_file(dir / "f.bin", content);
    const mapped_file file(dir / "f.bin");
    CHECK_FALSE(file.lost_pages());
    CHECK_NOTHROW(file.check_not_truncated());

    std::filesystem::resize_file(dir / "f.bin", static_cast<std::uintmax_t>(page) * 2);
    const auto bytes = file.bytes();
    CHECK(bytes[0] == std::byte{7});  // still there
    // Past the new end: SIGBUS without the guard. The page reads as zeros instead.
    CHECK(bytes[static_cast<std::size_t>(page) * 5] == std::byte{0});
    CHECK(file.lost_pages());
    CHECK_THROWS_WITH(file.check_not_truncated(),
                      Contains("f.bin: the file was truncated while being read (it is now " + std::to_string(page * 2) +
                               " bytes; it was " + std::to_string(page * 8) + " when opened)"));
}

TEST_CASE("mapped_file.shrunk_file_is_reported_even_before_a_read_faults", "[io][mapped_file][truncation]") {
    test::scratch_dir dir;
    test::write_file(dir / "g.bin", std::vector<std::byte>(10000, std::byte{1}));
    const mapped_file file(dir / "g.bin");
    std::filesystem::resize_file(dir / "g.bin", 100);
    CHECK_FALSE(file.lost_pages());
    CHECK_THROWS_WITH(file.check_not_truncated(), Contains("g.bin: the file was truncated while being read (it is "
                                                           "now 100 bytes; it was 10000 when opened)"));
    // A file removed while mapped is still whole: its pages live on until unmapped.
    test::write_file(dir / "h.bin", std::vector<std::byte>(10000, std::byte{1}));
    const mapped_file removed(dir / "h.bin");
    std::filesystem::remove(dir / "h.bin");
    CHECK(removed.bytes()[9999] == std::byte{1});
    CHECK_NOTHROW(removed.check_not_truncated());
}

TEST_CASE("content_hash.sees_every_byte_and_the_length", "[io][hash]") {
    std::vector<std::byte> a(1001, std::byte{3});
    const auto h = content_hash(a);
    for (std::size_t i : {0u, 7u, 8u, 500u, 1000u}) {
        auto b = a;
        b[i] ^= std::byte{1};
        CHECK(content_hash(b) != h);
    }
    CHECK(content_hash(std::span(a).first(1000)) != h);
    CHECK(content_hash(std::span<const std::byte>{}) == content_hash(std::span<const std::byte>{}));
}
