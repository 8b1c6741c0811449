#include <cstring>
#include <numeric>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/io/npz_writer.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using test::bytes_of;

namespace {

struct sample_arrays {
    std::vector<float> kernel = std::vector<float>(64 * 32);
    std::vector<std::int64_t> counter{42};
    std::vector<std::uint8_t> empty;
    sample_arrays() { std::iota(kernel.begin(), kernel.end(), -100.0f); }

    void add_to(npz_writer& w) const {
        w.add("dense/kernel:0", dtype::float32, {64, 32}, bytes_of(kernel));
        w.add("layer1.0.bn1.num_batches_tracked", dtype::int64, {}, bytes_of(counter));
        w.add("../not/a/path", dtype::uint8, {0, 3}, bytes_of(empty));
    }
};

std::vector<std::byte> as_vector(std::span<const std::byte> s) { return {s.begin(), s.end()}; }

void write_sample(const std::filesystem::path& path, npz_writer::compression how = npz_writer::compression::stored) {
    npz_writer w(path, how);
    sample_arrays().add_to(w);
    w.commit();
}

std::string fmt_name(npz_writer::compression how, bool zip64) {
    return std::string(how == npz_writer::compression::deflated ? "deflated" : "stored") + (zip64 ? "_zip64" : "") +
           ".npz";
}

}  // namespace

TEST_CASE("npz.round_trip.stored_deflated_and_zip64", "[io][npz]") {
    test::scratch_dir dir;
    const sample_arrays arrays;
    for (auto how : {npz_writer::compression::stored, npz_writer::compression::deflated}) {
        for (bool zip64 : {false, true}) {
            const auto path = dir / fmt_name(how, zip64);
            {
                npz_writer w(path, how, zip64);
                arrays.add_to(w);
                CHECK_FALSE(std::filesystem::exists(path));
                w.commit();
            }
            const npz_archive archive(path);
            REQUIRE(archive.members().size() == 3);
            // Member names are opaque keys: slashes, colons and dots are kept as they are.
            CHECK(archive.members()[0].key == "dense/kernel:0");
            CHECK(archive.members()[2].key == "../not/a/path");
            CHECK(archive.members()[0].deflated == (how == npz_writer::compression::deflated));
            if (how == npz_writer::compression::deflated) {
                CHECK(archive.members()[0].compressed_size < archive.members()[0].uncompressed_size);
            }

            const auto* kernel = archive.find("dense/kernel:0");
            REQUIRE(kernel != nullptr);
            CHECK(archive.read_header(*kernel).shape == std::vector<std::uint64_t>{64, 32});
            const auto loaded = archive.load(*kernel);
            CHECK(loaded.where() == path.string() + ": dense/kernel:0");
            CHECK(as_vector(loaded.raw_data()) == as_vector(bytes_of(arrays.kernel)));

            const auto counter = archive.load(*archive.find("layer1.0.bn1.num_batches_tracked"));
            CHECK(counter.header().shape.empty());
            CHECK(as_vector(counter.raw_data()) == as_vector(bytes_of(arrays.counter)));
            CHECK(archive.load(*archive.find("../not/a/path")).rows() == 0);
            CHECK(archive.find("missing") == nullptr);
        }
    }
}

TEST_CASE("npz.stored_members_are_served_from_the_mapping", "[io][npz]") {
    test::scratch_dir dir;
    const auto path = dir / "w.npz";
    const sample_arrays arrays;
    write_sample(path);
    // The same bytes in memory: the array's data must point into them, not into a copy.
    const auto bytes = std::make_shared<std::vector<std::byte>>(test::read_file(path));
    const npz_archive archive(*bytes, bytes, "in-memory");
    const auto a = archive.load(archive.members()[0]);
    CHECK(a.raw_data().data() >= bytes->data());
    CHECK(a.raw_data().data() + a.raw_data().size() <= bytes->data() + bytes->size());
}

TEST_CASE("npz.reader.streams_members_in_any_chunking", "[io][npz]") {
    test::scratch_dir dir;
    const auto path = dir / "w.npz";
    const sample_arrays arrays;
    write_sample(path, npz_writer::compression::deflated);
    const npz_archive archive(path);
    const auto& member = archive.members()[0];
    std::vector<std::byte> whole;
    auto reader = archive.open(member);
    std::vector<std::byte> chunk(333);
    for (std::size_t n; (n = reader.read(chunk)) > 0;) whole.insert(whole.end(), chunk.begin(), chunk.begin() + static_cast<std::ptrdiff_t>(n));
    REQUIRE(whole.size() == member.uncompressed_size);
    const auto header = archive.read_header(member);
    CHECK(std::memcmp(whole.data() + header.data_offset, arrays.kernel.data(), header.data_bytes()) == 0);
}

TEST_CASE("npz.writer.rejects_duplicates_and_wrong_sizes", "[io][npz]") {
    test::scratch_dir dir;
    npz_writer w(dir / "w.npz");
    const std::vector<float> four(4);
    w.add("a", dtype::float32, {4}, bytes_of(four));
    CHECK_THROWS_WITH(w.add("a", dtype::float32, {4}, bytes_of(four)), Contains("member 'a' added twice"));
    CHECK_THROWS_WITH(w.add("b", dtype::float32, {5}, bytes_of(four)), Contains("(5,) float32 needs 20 bytes, got 16"));
}

TEST_CASE("npz.reader.detects_corruption_of_a_written_archive", "[io][npz]") {
    test::scratch_dir dir;
    const auto path = dir / "w.npz";
    const sample_arrays arrays;
    write_sample(path);
    auto bytes = test::read_file(path);
    const npz_archive clean(path);
    const auto data_at = clean.members()[0].data_offset + clean.read_header(clean.members()[0]).data_offset;

    SECTION("a flipped data byte fails the CRC check") {
        bytes[data_at + 100] ^= std::byte{0x40};
        test::write_file(path, bytes);
        const npz_archive archive(path);
        CHECK_NOTHROW(archive.read_header(archive.members()[0]));  // headers alone do not read the data
        CHECK_THROWS_WITH(archive.load(archive.members()[0]), Contains(": dense/kernel:0: CRC-32 mismatch"));
    }
    SECTION("a truncated archive has no directory") {
        bytes.resize(bytes.size() / 2);
        test::write_file(path, bytes);
        CHECK_THROWS_WITH(npz_archive(path), Contains("w.npz: not a zip archive or truncated"));
    }
}
