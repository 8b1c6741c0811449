#pragma once
// What npyflow knows about one kind of layer, in one place: the options it takes, the arrays
// it binds and how they are rearranged, the shape it gives, how it runs on oneDNN, and its
// FLOPs. Each lives in nn/layers/<kind>.cpp; nn/layer_table.cpp lists them, one per
// layer_kind, which the compiler checks. Adding a kind is one file and a line in the table.

#include <cstdint>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <dnnl.hpp>
#include <nlohmann/json.hpp>

#include "npyflow/io/npy_header.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/param_binding.hpp"

namespace npyflow {

class lowering_context;
struct node;

// A layer's JSON options, taken one by one so that those left over can be named as unknown.
class option_reader {
public:
    option_reader(const nlohmann::json& layer, weight_layout layout) : layer_(layer), layout_(layout) {}
    weight_layout layout() const { return layout_; }
    bool keras() const { return layout_ == weight_layout::keras; }

    // The value of the first of `keys` present (the canonical name, then aliases), or null.
    const nlohmann::json* take(std::initializer_list<const char*> keys);
    std::optional<std::uint64_t> positive(std::initializer_list<const char*> keys);
    std::optional<bool> boolean(std::initializer_list<const char*> keys);
    std::optional<double> number(std::initializer_list<const char*> keys, double at_least);
    std::optional<std::int64_t> integer(std::initializer_list<const char*> keys);
    // An int or a list of `rank` ints (kernel sizes, strides, padding), each at most 2^20.
    std::vector<std::uint64_t> window(std::initializer_list<const char*> keys, std::size_t rank, bool allow_zero);
    // Options every layer of a kind ignores at inference (dropout's "p", "momentum").
    void ignore(std::initializer_list<const char*> keys) { (void)take(keys); }
    // Throws for an option no take() asked for.
    void finish() const;

private:
    const nlohmann::json& layer_;
    weight_layout layout_;
    std::vector<std::string> allowed_{"type", "name", "inputs", "params", "layout"};
};

// What a descriptor's bind step may ask of the binder.
class binding_context {
public:
    virtual ~binding_context() = default;
    // The data's layout: the model's (channels first in torch, last in keras).
    virtual weight_layout layout() const = 0;
    // The layout of the layer's arrays: the model's, or the layer's own "layout".
    virtual weight_layout weights_layout() const = 0;
    bool torch() const { return weights_layout() == weight_layout::torch; }
    // True where the spec states no layout and the weights carry no framework's names
    // (positional, a flat vector, a pickled list): a kernel whose shape fits both layouts
    // must then be refused, naming it, rather than read in torch's.
    virtual bool layout_unknown() const = 0;
    // The array for a role (framework_role is its name in the layout's framework: "kernel");
    // flat_values is how many values it takes from a flat weight vector (0: unknown). Records
    // a problem and returns nothing when it cannot.
    virtual std::optional<bound_tensor> fetch(const std::string& role, const std::string& framework_role,
                                              std::uint64_t flat_values) = 0;
    // True when t has the expected shape (a flat vector's slice always does); otherwise
    // records "array 'x' has shape (a), expected (b) meaning; hint".
    virtual bool check_shape(const bound_tensor& t, const std::vector<std::uint64_t>& expected,
                             const std::string& meaning, const std::string& hint = "") = 0;
    virtual bool flat_weights() const = 0;
    // A positionally saved state_dict follows a batchnorm's running_var with its step
    // counter (num_batches_tracked), which inference does not use.
    virtual void skip_step_counter() = 0;
    // "layers[2] (conv2d \"a\")", or "the model's input" for -1, for messages naming two layers.
    virtual std::string source_name(int layer_index) const = 0;
    // Records a problem with the layer being bound; returns false, for `return problem(...)`.
    virtual bool problem(const std::string& what) = 0;
};

// The activation a layer applies, as a oneDNN eltwise algorithm (fused into the conv or
// linear before it where it can be).
struct eltwise_op {
    dnnl::algorithm algorithm;
    float alpha = 0;
};

struct layer_descriptor {
    layer_kind kind;
    const char* name;                                // canonical, PyTorch's
    const char* alias;                               // Keras's name, or nullptr
    bool has_weights;                                // needs a "name": the prefix of its arrays
    std::size_t min_inputs, max_inputs;              // 1, 1 for most
    // Reads the kind's options into spec (the reader refuses any left over).
    void (*parse)(option_reader&, layer_spec&);
    // Infers layer.out from layer.in, binds and checks its arrays. False when the output's
    // shape stays unknown (later layers are then not checked).
    bool (*bind)(binding_context&, bound_layer&);
    // Appends the oneDNN primitives that compute the node's output.
    void (*lower)(lowering_context&, const node&);
    // Floating-point operations per sample, multiply-adds counted as 2.
    double (*flops)(const bound_layer&);
    // An elementwise activation: fused as a post-op after a conv or linear.
    std::optional<eltwise_op> (*activation)(const layer_spec&) = nullptr;
    // A conv or linear that takes post-ops and folds a batchnorm after it.
    bool takes_post_ops = false;
    // A conv that adds a residual tensor to its output as a post-op (nn/network.cpp fuses an
    // add into it).
    bool takes_residual = false;
    // Computes nothing at inference (dropout): the network reads through it and makes no node
    // of it, so it has no lower.
    bool identity_at_inference = false;
};

// Every descriptor, in layer_kind order.
std::span<const layer_descriptor* const> layer_table();
const layer_descriptor& descriptor(layer_kind kind);

// Shared by the descriptors.
std::uint64_t element_count(const std::vector<std::uint64_t>& shape);
// The channel count and spatial sizes of a sample, (C, spatial...) in torch's layout and
// (spatial..., C) in keras's.
std::uint64_t channels_of(const std::vector<std::uint64_t>& shape, weight_layout layout);
std::vector<std::uint64_t> spatial_of(const std::vector<std::uint64_t>& shape, weight_layout layout);
std::vector<std::uint64_t> with_channels(std::uint64_t channels, const std::vector<std::uint64_t>& spatial,
                                         weight_layout layout);
double zero_flops(const bound_layer&);
// For kinds without options, and kinds whose output has their input's shape.
void no_options(option_reader&, layer_spec&);
bool same_shape(binding_context&, bound_layer& layer);
// The product of sizes from a spec, UINT64_MAX where it overflows: what a flat weight vector
// is asked for, so that absurd sizes are refused rather than wrapped round to a small slice.
std::uint64_t saturating_product(std::initializer_list<std::uint64_t> sizes);
// A layer output that could not be held even for one row (its size overflows, or passes
// 2^40 values) is refused before the memory guard multiplies it out.
bool fits_in_memory(binding_context& ctx, const std::vector<std::uint64_t>& shape);
// A conv's or linear's checked weight, kept with the shape the lowering reads (a flat
// vector's slice takes it here), and its bias of `out` values if the layer has one.
void keep_weight_and_bias(binding_context& ctx, bound_layer& layer, bound_tensor weight,
                          const std::vector<std::uint64_t>& shape, std::uint64_t out);
// Where the layout is unknown (binding_context::layout_unknown) and the kernel reads the
// same either way (`fits_both`: a square linear weight, a conv kernel whose shape fits OIHW
// and HWIO; always for a flat vector's slice), records the problem naming the array; binding
// goes on, so that the layers after it are checked too.
bool refuse_if_ambiguous(binding_context& ctx, const bound_tensor& kernel, bool fits_both, const char* torch_form,
                         const char* keras_form);
// The input size the spec states, if it does, against the one the layer gets ("'in_features'
// is 99, but its input gives 3").
bool check_stated_input(binding_context& ctx, const bound_layer& layer, std::uint64_t actual, const char* key);

}  // namespace npyflow
