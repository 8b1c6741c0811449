// Elementwise activations on a sample of any rank: relu, leaky_relu, sigmoid, tanh, gelu
// (erf form). After a conv or linear they run as its post-ops (nn/network.cpp).
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

void parse_leaky_relu(option_reader& r, layer_spec& l) {
    l.negative_slope = r.keras() ? 0.3 : 0.01;  // each framework's default
    if (auto v = r.number({"negative_slope", "alpha"}, -1e308)) l.negative_slope = *v;
}

template <dnnl::algorithm algorithm>
std::optional<eltwise_op> fixed(const layer_spec&) {
    return eltwise_op{algorithm, 0.0f};
}

std::optional<eltwise_op> leaky(const layer_spec& s) {
    return eltwise_op{dnnl::algorithm::eltwise_relu, static_cast<float>(s.negative_slope)};
}

// On the input as it is, in either view and any memory format.
void lower_activation(lowering_context& ctx, const node& n) {
    const eltwise_op op = *descriptor(n.layer->spec.kind).activation(n.layer->spec);
    const value& src = ctx.input(n, 0);
    const dnnl::eltwise_forward::primitive_desc pd(
        dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, op.algorithm, src.memory.get_desc(), op.alpha,
                                    0.0f),
        ctx.plain_attr(), ctx.engine());
    dnnl::memory dst = ctx.new_memory(pd.dst_desc());
    ctx.add(dnnl::eltwise_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, src.memory}, {DNNL_ARG_DST, dst}});
    ctx.output(n, dst, src.channels);
}

constexpr layer_descriptor activation(layer_kind kind, const char* name, void (*parse)(option_reader&, layer_spec&),
                                      std::optional<eltwise_op> (*op)(const layer_spec&)) {
    return {.kind = kind, .name = name, .alias = nullptr, .has_weights = false, .min_inputs = 1, .max_inputs = 1,
            .parse = parse, .bind = same_shape, .lower = lower_activation, .flops = zero_flops, .activation = op};
}

}  // namespace

extern const layer_descriptor relu_layer =
    activation(layer_kind::relu, "relu", no_options, fixed<dnnl::algorithm::eltwise_relu>);
extern const layer_descriptor leaky_relu_layer = activation(layer_kind::leaky_relu, "leaky_relu", parse_leaky_relu, leaky);
extern const layer_descriptor sigmoid_layer =
    activation(layer_kind::sigmoid, "sigmoid", no_options, fixed<dnnl::algorithm::eltwise_logistic>);
extern const layer_descriptor tanh_layer =
    activation(layer_kind::tanh, "tanh", no_options, fixed<dnnl::algorithm::eltwise_tanh>);
extern const layer_descriptor gelu_layer =
    activation(layer_kind::gelu, "gelu", no_options, fixed<dnnl::algorithm::eltwise_gelu_erf>);

}  // namespace npyflow
