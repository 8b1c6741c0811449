#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs the dependencies, builds npyflow
# (build/npyflow) and inspects the bundled example files with statistics.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target npyflow

echo "+ build/npyflow inspect --stats examples/data/example.npy examples/data/example_weights.npz"
build/npyflow inspect --stats examples/data/example.npy examples/data/example_weights.npz
