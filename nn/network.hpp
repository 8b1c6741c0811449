#pragma once
// A bound model run with oneDNN 2.6: a graph of nodes, each a layer lowered by its kind's
// descriptor (nn/layers/), with a batchnorm folded into the conv or linear before it and
// activations fused as post-ops where that layer's output has no other use. Weights are
// reordered once to the layout oneDNN chooses (format_tag::any) and shared by every thread;
// each thread that runs the network gets its own primitives, activations and scratchpads,
// created once and then reused. They always run the same number of rows at a time (the last
// chunk padded): oneDNN picks kernels by batch shape, so a fixed shape makes every row's result
// the same whatever the batch size, thread count or prefetch depth. That micro-batch is 64
// rows, or fewer for a model whose 64 rows would take over 256 MiB of activations a thread.

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "npyflow/nn/param_binding.hpp"

namespace npyflow {

class network {
public:
    // omp_threads: oneDNN's OpenMP threads for each run. 1 (the default) runs one
    // single-threaded inference stream per calling thread; more suits a caller that runs one
    // batch at a time (docs/architecture.md compares the two).
    explicit network(bound_model model, int omp_threads = 1);
    ~network();
    network(const network&) = delete;
    network& operator=(const network&) = delete;

    std::uint64_t input_values() const;   // floats per sample in (the spec's input shape)
    std::uint64_t output_values() const;  // floats per sample out
    const std::vector<std::uint64_t>& output_shape() const;  // one sample out: (classes), (T, H), ...
    layer_kind last_layer() const;        // e.g. softmax, so --output probs does not apply it twice
    std::string describe() const;         // "conv2d+batchnorm+relu | maxpool2d | ... | linear"
    double flops_per_sample() const;      // multiply-adds counted as 2, for throughput figures

    // Memory, for the guard that refuses a job before it starts: the weights as bound, the
    // weights reordered once (for every thread) to the layouts the primitives chose (a
    // winograd conv's 4x larger), and what each thread's plan allocates for a micro-batch
    // (activations, reorders, scratchpad); the last two measured by building the primitives
    // once without buffers. Throws if oneDNN cannot build them.
    std::uint64_t weight_bytes() const;
    std::uint64_t reordered_weight_bytes() const;
    std::uint64_t activation_bytes() const;
    // The layer with the largest output: "layer 0 (conv2d+batchnorm+relu), (16, 4030, 4030) a row".
    std::string largest_activation() const;
    // Rows per oneDNN execution: 64, or fewer (a power of two) where 64 rows' activations
    // would exceed 256 MiB a thread. Fixed by the model (measured on first use).
    std::size_t micro_batch_rows() const;

    // Runs `rows` samples (float32, C order, in the spec's data layout) into dst. Safe to call
    // from several threads at once; each uses its own primitives.
    //
    // A row whose input holds NaN or +-Inf gets NaN for every output: oneDNN's fused
    // activations and max pooling do not keep NaN as PyTorch does, and would turn such a row
    // into finite, wrong scores (docs/model-spec.md). Returns how many rows those were.
    // first_row: the job's index of src's first row, for messages (an embedding's bad id).
    std::size_t run(std::span<const float> src, std::size_t rows, std::span<float> dst,
                    std::uint64_t first_row = 0) const;
    // Drops every thread's primitives and activations (rebuilt at its next run): after a
    // calibration whose threads will not run the network again. Not while run() runs.
    void release_plans();

    struct impl;

private:
    std::unique_ptr<impl> impl_;
};

}  // namespace npyflow
