#!/usr/bin/env bash
# The main job, from a fresh Debian 12 machine: installs the dependencies, builds npyflow
# (build/npyflow), converts the Fashion-MNIST test set (Debian's dataset-fashion-mnist) to
# .npy, and scores its 10,000 images with the bundled MLP and CNN, printing accuracy and
# throughput.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-deps.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build --target npyflow idx_to_npy

data=/usr/share/datasets/fashion-mnist
out=build/fashion-mnist
mkdir -p "$out"
build/idx_to_npy "$data/t10k-images-idx3-ubyte.gz" "$out/test_images.npy"
build/idx_to_npy "$data/t10k-labels-idx1-ubyte.gz" "$out/test_labels.npy"
build/npyflow inspect "$out/test_images.npy" "$out/test_labels.npy"

for model in mlp cnn; do
  echo
  echo "+ build/npyflow score $out/test_images.npy -o $out/${model}_scores.npy --model examples/fashion_mnist/$model.json --weights examples/fashion_mnist/$model.npz --labels $out/test_labels.npy"
  build/npyflow score "$out/test_images.npy" -o "$out/${model}_scores.npy" \
    --model "examples/fashion_mnist/$model.json" --weights "examples/fashion_mnist/$model.npz" \
    --labels "$out/test_labels.npy"
done
