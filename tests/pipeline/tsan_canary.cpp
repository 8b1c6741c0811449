// A pipeline whose stage has a real data race: batches in flight together increment a plain
// counter. Under ThreadSanitizer, with tests/tsan.supp, this must be reported (CTest expects
// it to fail): proof that the suppressions for oneTBB's internals hide no race in a stage.
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <vector>

#include "npyflow/io/npy_writer.hpp"
#include "npyflow/pipeline/pipeline.hpp"

int main() {
    const auto path = std::filesystem::temp_directory_path() / "npyflow-tsan-canary.npy";
    std::vector<std::uint32_t> values(4096);
    std::iota(values.begin(), values.end(), 0u);
    npyflow::write_npy(path, npyflow::dtype::uint32, {4096}, std::as_bytes(std::span(values)));

    long unsynchronized = 0;
    // Each batch waits (up to a second) until another is in the stage too, so the race
    // happens even on a busy machine. Relaxed atomics give TSan no ordering between them.
    std::atomic<int> inside{0};
    const npyflow::stage racy{"racy", [&](npyflow::batch& b) {
                                  inside.fetch_add(1, std::memory_order_relaxed);
                                  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(1);
                                  while (inside.load(std::memory_order_relaxed) < 2 &&
                                         std::chrono::steady_clock::now() < give_up) {
                                  }
                                  for (std::uint64_t i = 0; i < b.rows; ++i) ++unsynchronized;
                                  inside.fetch_sub(1, std::memory_order_relaxed);
                              }};
    const npyflow::dataset input({path});
    npyflow::run_pipeline(input, {racy}, [](const npyflow::batch&) {},
                          {.batch_rows = 16, .threads = 4, .prefetch = 8});
    std::filesystem::remove(path);
    std::printf("counted %ld rows\n", unsynchronized);
    return 0;
}
