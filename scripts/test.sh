#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs the dependencies, then
#   1. builds with GCC (Release) and runs every test, the MPI tests (1-3 ranks) included;
#   2. builds with clang under AddressSanitizer + UndefinedBehaviorSanitizer, with the
#      libFuzzer targets and without MPI, and runs the io and nn tests (the CLI bad-input test,
#      scoring against PyTorch, resumable jobs, the demo, refusing to run under mpirun without
#      MPI), the seed-corpus replay and a short run of each fuzz target;
#   3. builds with clang under ThreadSanitizer and runs the pipeline tests (the library's and
#      the CLI's) and the data loader's, and a canary whose real race must be reported.
# Exits non-zero if anything fails. Set NPYFLOW_FUZZ_SECONDS to fuzz longer (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
jobs=$(nproc)

echo "=== release build (gcc) ==="
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$jobs"
ctest --test-dir build --output-on-failure -j "$jobs"

echo "=== sanitizer build (clang, address + undefined, libFuzzer) ==="
CC=clang CXX=clang++ cmake -S . -B build-sanitize -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNPYFLOW_SANITIZE=address,undefined -DNPYFLOW_FUZZ=ON -DNPYFLOW_MPI=OFF \
  -DNPYFLOW_FUZZ_SECONDS="${NPYFLOW_FUZZ_SECONDS:-20}" >/dev/null
cmake --build build-sanitize -j "$jobs"
ctest --test-dir build-sanitize --output-on-failure -j "$jobs" -L "io|nn|job"

echo "=== thread sanitizer build (clang) ==="
CC=clang CXX=clang++ cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DNPYFLOW_SANITIZE=thread >/dev/null
cmake --build build-tsan -j "$jobs"
ctest --test-dir build-tsan --output-on-failure -j "$jobs" -L pipeline
ctest --test-dir build-tsan --output-on-failure -j "$jobs" -R '^batch_(loader|order)\.'  # the data loader's threads
