// The files a job creates: temporaries that are never written through a link, the lock that
// keeps a second writer off an output, and the writeback that takes an output to disk as it
// grows.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "npyflow/io/background_writeback.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/output_lock.hpp"
#include "npyflow/io/partial_file.hpp"
#include "tests/test_support.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;

namespace {

void write_text(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::binary) << text;
}

std::string read_text(const std::filesystem::path& path) {
    const auto bytes = test::read_file(path);
    return {reinterpret_cast<const char*>(bytes.data()), bytes.size()};
}

}  // namespace

TEST_CASE("partial_file.never_writes_through_a_symlink", "[io][partial_file]") {
    test::scratch_dir dir;
    write_text(dir / "precious.npy", "precious");
    std::filesystem::create_symlink(dir / "precious.npy", dir / "out.npy.partial");
    CHECK_THROWS_WITH(partial_file(dir / "out.npy"), Contains("out.npy.partial: exists and is a symlink"));
    CHECK_THROWS_WITH(partial_file(dir / "out.npy", partial_file::mode::reopen), Contains("exists and is a symlink"));
    CHECK(read_text(dir / "precious.npy") == "precious");
}

TEST_CASE("partial_file.replaces_a_leftover_instead_of_truncating_it", "[io][partial_file]") {
    test::scratch_dir dir;
    write_text(dir / "keep.npy", "kept");
    // A hard link as the leftover: truncating it would empty keep.npy; unlinking it does not.
    std::filesystem::create_hard_link(dir / "keep.npy", dir / "out.npy.partial");
    {
        partial_file file(dir / "out.npy");
        file.write_at(0, std::as_bytes(std::span(std::string_view("new"))));
        file.commit();
    }
    CHECK(read_text(dir / "keep.npy") == "kept");
    CHECK(read_text(dir / "out.npy") == "new");
}

TEST_CASE("partial_file.refuses_outputs_that_are_not_regular_files", "[io][partial_file]") {
    test::scratch_dir dir;
    REQUIRE(::mkfifo((dir / "fifo").c_str(), 0644) == 0);
    CHECK_THROWS_WITH(partial_file(dir / "fifo"), Contains("fifo: exists and is a FIFO; npyflow writes outputs only as regular files"));
    std::filesystem::create_directory(dir / "adir");
    CHECK_THROWS_WITH(partial_file(dir / "adir"), Contains("exists and is a directory"));
    CHECK_FALSE(std::filesystem::exists(dir / "fifo.partial"));
    CHECK(file_kind(dir / "fifo") == "FIFO");
}

TEST_CASE("output_lock.one_holder_at_a_time", "[io][output_lock]") {
    test::scratch_dir dir;
    {
        const output_lock first(dir / "out.npy");
        CHECK(read_text(dir / "out.npy.lock").find(fmt::format("pid {} on host ", ::getpid())) == 0);
        // A second lock, even from this process (another open file description), is refused.
        CHECK_THROWS_WITH(output_lock(dir / "out.npy"),
                          Contains(fmt::format("out.npy: another job is writing this output (pid {} on host", ::getpid())));
    }
    CHECK_FALSE(std::filesystem::exists(dir / "out.npy.lock"));  // removed by its holder
    const output_lock again(dir / "out.npy");                      // and free again
    CHECK_THROWS_WITH(output_lock(dir / "missing" / "out.npy"), Contains("cannot create the lock"));
}

TEST_CASE("output_lock.a_stale_lock_file_is_no_obstacle", "[io][output_lock]") {
    test::scratch_dir dir;
    write_text(dir / "out.npy.lock", "pid 1 on host gone\n");  // left by a killed job: no flock on it
    const output_lock lock(dir / "out.npy");
    CHECK(read_text(dir / "out.npy.lock").find(fmt::format("pid {}", ::getpid())) == 0);
}

TEST_CASE("background_writeback.sends_each_completed_window", "[io][writeback]") {
    test::scratch_dir dir;
    partial_file file(dir / "out.bin");
    constexpr std::uint64_t window = 64 << 10;
    const std::vector<std::byte> chunk(window / 4, std::byte{0x5A});
    {
        background_writeback writeback(file, 0, window);
        std::uint64_t end = 0;
        for (int i = 0; i < 22; ++i) {  // 5.5 windows, a quarter at a time
            file.write_at(end, chunk);
            end += chunk.size();
            writeback.advance(end);
        }
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
        while (writeback.windows() < 5 && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        CHECK(writeback.windows() == 5);  // the half window at the end is the final flush's
    }
    CHECK(file.size() == 22 * chunk.size());
    std::vector<std::byte> back(file.size());
    REQUIRE(file.read_at(0, back));
    CHECK(std::all_of(back.begin(), back.end(), [](std::byte b) { return b == std::byte{0x5A}; }));
}

TEST_CASE("background_writeback.starts_at_the_writers_first_byte", "[io][writeback]") {
    test::scratch_dir dir;
    partial_file file(dir / "out.bin");
    constexpr std::uint64_t window = 64 << 10;
    const std::vector<std::byte> bytes(window, std::byte{1});
    // A resumed writer (or another rank's share) starting in the middle of window 3.
    background_writeback writeback(file, 3 * window + window / 2, window);
    file.write_at(3 * window + window / 2, std::span(bytes).first(window / 2));
    writeback.advance(4 * window);  // completes window 3
    file.write_at(4 * window, std::span(bytes).first(window / 2));
    writeback.advance(4 * window + window / 2);  // window 4 not complete
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (writeback.windows() < 1 && std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    CHECK(writeback.windows() == 1);
}
