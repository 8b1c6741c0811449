// flatten (every per-sample axis into one, in the layout's order: C,H,W for torch and H,W,C
// for keras, as each framework flattens) and dropout (the identity at inference).
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

// PyTorch's nn.Flatten() from dim 1 to the end, Keras's Flatten() channels last: the only
// orders npyflow flattens in, so others are refused rather than flattened in the wrong order.
void parse_flatten(option_reader& r, layer_spec&) {
    if (const nlohmann::json* v = r.take({"data_format"}); v && *v != "channels_last") {
        throw error(fmt::format("'data_format' {}: npyflow flattens the layout's own order (keras: channels_last)",
                                v->dump()));
    }
    if (const auto start = r.integer({"start_dim"}); start && *start != 1) {
        throw error(fmt::format("'start_dim' {}: npyflow flattens every per-sample axis (start_dim 1)", *start));
    }
    if (const auto end = r.integer({"end_dim"}); end && *end != -1) {
        throw error(fmt::format("'end_dim' {}: npyflow flattens every per-sample axis (end_dim -1)", *end));
    }
}
void parse_dropout(option_reader& r, layer_spec&) { r.ignore({"p", "rate", "inplace"}); }

bool bind_flatten(binding_context& ctx, bound_layer& b) {
    b.out = {element_count(b.in[0])};
    return fits_in_memory(ctx, b.out);
}

void lower_flatten(lowering_context& ctx, const node& n) {
    ctx.output(n, ctx.view(ctx.plain(n, 0), ctx.plain_desc(n.out)), false);
}

}  // namespace

extern const layer_descriptor flatten_layer{
    .kind = layer_kind::flatten, .name = "flatten", .alias = nullptr, .has_weights = false, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_flatten, .bind = bind_flatten, .lower = lower_flatten, .flops = zero_flops};
extern const layer_descriptor dropout_layer{
    .kind = layer_kind::dropout, .name = "dropout", .alias = nullptr, .has_weights = false, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_dropout, .bind = same_shape, .lower = nullptr, .flops = zero_flops,
    .identity_at_inference = true};

}  // namespace npyflow
