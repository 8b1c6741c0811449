#pragma once
// How a descriptor's lower step builds its part of a plan: one thread's oneDNN primitives for
// a micro-batch of `rows` samples (nn/network.cpp runs them).
//
// A layer's output is a memory in one of two views. The plain view has dims (rows, the
// sample's dims in the layout's order), dense C order: what flatten, linear, softmax,
// concat and the caller's buffers see. The channels view has oneDNN's dims (rows, C,
// spatial...) in any memory format: what conv, pooling and batchnorm take, and keep between
// them (blocked formats, without reorders). plain() and channels() convert, reordering only
// when the bytes must move.
//
// Activations come from new_memory(): blocks reused once every step that reads them has run
// (the plan's steps run in order, on one thread), so a deep network holds about its widest
// point's tensors, not every layer's. Every primitive shares one scratchpad, for the same reason.

#include <cstdint>
#include <algorithm>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <dnnl.hpp>

#include "npyflow/nn/layer_descriptor.hpp"

namespace npyflow {

// One node of the executed graph: a layer, possibly with a batchnorm folded in and
// activations fused after it.
struct node {
    std::size_t index = 0;                 // in the network's nodes
    const bound_layer* layer = nullptr;    // the first layer: its spec, shapes and options
    std::vector<int> inputs;               // node indices; -1 is the model's input
    tensor_shape out;                      // the output's sample shape
    std::map<std::string, bound_tensor> params;  // the layer's arrays, folded
    // Fused after the primitive, in order: activations, and residual adds of another node's
    // output (a conv's; see network.cpp).
    struct post_op {
        std::optional<eltwise_op> eltwise;
        int residual = -1;  // without eltwise: the node whose output is added (-1: the model's input)
    };
    std::vector<post_op> post_ops;
    bool has_residual() const {
        return std::any_of(post_ops.begin(), post_ops.end(), [](const post_op& p) { return !p.eltwise; });
    }
    bool batchnorm_folded = false;         // a batchnorm after it is folded into its weights
    std::string text;                      // "conv2d+batchnorm+relu"
};

struct value {
    dnnl::memory memory;
    bool channels = false;  // which view its dims are in (above)
};

// One step of a plan: a primitive, or work oneDNN has no primitive for (an embedding's
// lookup), given the index of the micro-batch's first row in the job for its messages.
struct plan_step {
    dnnl::primitive primitive;
    std::unordered_map<int, dnnl::memory> args;
    std::function<void(std::uint64_t first_row)> host;
};

// Weights reordered once to the layout a primitive chose, shared by every thread's plan.
class shared_weights {
public:
    dnnl::memory get(const std::string& key, const dnnl::memory& user, const dnnl::memory::desc& want,
                     const dnnl::engine& engine, dnnl::stream& stream);
    std::uint64_t bytes() const;

private:
    mutable std::mutex mutex_;
    std::map<std::string, dnnl::memory> reordered_;
};

class lowering_context {
public:
    // measuring: build the plan's primitives to learn what its buffers take (buffer_bytes),
    // allocating nothing and reordering no weights; such a plan must never run.
    lowering_context(const dnnl::engine& engine, dnnl::stream& stream, shared_weights& weights, std::size_t rows,
                     weight_layout layout, bool measuring = false);

    const dnnl::engine& engine() const { return engine_; }
    std::size_t rows() const { return rows_; }
    weight_layout layout() const { return layout_; }
    bool torch() const { return layout_ == weight_layout::torch; }

    // The descs of a sample shape's two views.
    dnnl::memory::desc plain_desc(const tensor_shape& shape) const;
    dnnl::memory::desc channels_desc(const tensor_shape& shape) const;
    // The same bytes seen with other dims (a flatten, a reshape), which must cover them exactly.
    dnnl::memory view(const dnnl::memory& m, const dnnl::memory::desc& desc);

    // A node's output (-1: the model's input) of the given sample shape, in the plain view.
    dnnl::memory plain_value(int node_index, const tensor_shape& shape);
    // The node's i-th input: as it is, in the plain view, in the channels view.
    const value& input(const node& n, std::size_t i) const;
    dnnl::memory plain(const node& n, std::size_t i);
    dnnl::memory channels(const node& n, std::size_t i);
    // A buffer for a tensor this node writes: free again after the node, unless it holds the
    // node's output, then after the output's last reader.
    dnnl::memory new_memory(const dnnl::memory::desc& desc);
    // A copy of m in another format (dims the same).
    dnnl::memory reorder(const dnnl::memory& m, const dnnl::memory::desc& to);
    dnnl::memory reorder_to(const dnnl::memory& m, const dnnl::memory::desc& to) {
        return m.get_desc() == to ? m : reorder(m, to);
    }

    // A primitive attribute with a user scratchpad; with the node's post-ops, whose residual
    // adds read a tensor in dst's desc (residual_args gives them it, reordered if need be).
    dnnl::primitive_attr plain_attr() const;
    // The node's post-ops [first, last) (all of them by default).
    dnnl::primitive_attr attr(const node& n, const dnnl::memory::desc& dst = {}, std::size_t first = 0,
                              std::size_t last = SIZE_MAX) const;
    void residual_args(const node& n, const dnnl::memory::desc& dst, std::unordered_map<int, dnnl::memory>& args);
    // The node's post-ops from `first` on, each residual add a binary primitive carrying the
    // activations after it, applied to `m` (for a primitive whose fused form would run on
    // oneDNN's reference code). Returns the result.
    dnnl::memory apply_post_ops(const node& n, dnnl::memory m, std::size_t first);
    void add(dnnl::primitive p, const dnnl::memory::desc& scratchpad, std::unordered_map<int, dnnl::memory> args);
    void add_host(std::function<void(std::uint64_t)> step);
    // A bound array wrapped as memory with the given desc (its values are not copied).
    dnnl::memory constant(const bound_tensor& t, const dnnl::memory::desc& desc) const;
    // A weight in its user desc, reordered to `want` once for every thread.
    dnnl::memory weights(const node& n, const std::string& role, const dnnl::memory::desc& user,
                         const dnnl::memory::desc& want);

    // The node's result.
    void output(const node& n, dnnl::memory m, bool channels);

    // Used by the network to build and run the plan.
    void set_input(dnnl::memory m, bool channels);
    // last_use[i]: the last node that reads node i's output (a large value for the model's output).
    void set_last_uses(std::vector<std::size_t> last_use) { last_use_ = std::move(last_use); }
    void begin_node(const node& n) { current_ = n.index; }
    void end_node(const node& n);  // releases what the node and the outputs it read last no longer need
    const value& result(int node_index) const;
    std::vector<plan_step> take_steps();  // with the shared scratchpad allocated
    // The buffers the plan's memories point into: the plan keeps them.
    std::vector<std::shared_ptr<void>> take_buffers() { return std::move(owned_); }
    std::uint64_t buffer_bytes() const;
    // While measuring: the bytes of the weights reordered to the layouts the primitives chose
    // (a winograd kernel's are 4x the bound ones).
    std::uint64_t reordered_weight_bytes() const { return reordered_weight_bytes_; }
    std::vector<dnnl::memory> input_views() const { return input_views_; }

private:
    bool aliases_input(const dnnl::memory& m) const;
    std::shared_ptr<void> allocate(std::size_t bytes);

    struct block {
        std::byte* data;
        std::size_t bytes;
        bool in_use;
        std::size_t free_after;  // the node after which it is free again
        bool holds(const void* p) const {
            const auto a = reinterpret_cast<std::uintptr_t>(p), start = reinterpret_cast<std::uintptr_t>(data);
            return a >= start && a < start + bytes;
        }
    };
    std::uintptr_t next_measured_ = std::uintptr_t{1} << 20;  // where measured blocks seem to lie
    std::vector<block> blocks_;
    std::vector<std::shared_ptr<void>> owned_;
    std::vector<std::size_t> last_use_;
    std::size_t current_ = 0;
    std::vector<dnnl::memory> scratchpads_;
    std::size_t scratchpad_bytes_ = 0;
    std::uint64_t reordered_weight_bytes_ = 0;

    const dnnl::engine& engine_;
    dnnl::stream& stream_;
    shared_weights& weights_;
    std::size_t rows_;
    weight_layout layout_;
    bool measuring_;
    value input_;
    std::vector<value> values_;  // by node index
    std::vector<plan_step> steps_;
    // Memories on the caller's input buffer, whose handle is set for each run.
    std::vector<dnnl::memory> input_views_;
};

dnnl::memory::dims to_dims(const std::vector<std::uint64_t>& v);

// Whether oneDNN chose its reference code for a primitive ("ref:any"): correct, but a hundred
// times slower than its jit kernels; a lowering that can avoid it (a post-op split off) does.
inline bool is_reference_code(const dnnl::primitive_desc_base& pd) {
    return std::string_view(pd.impl_info_str()).starts_with("ref");
}

}  // namespace npyflow
