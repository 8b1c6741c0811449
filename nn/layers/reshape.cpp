// flatten (every per-sample axis into one, in the layout's order: C,H,W for torch and H,W,C
// for keras, as each framework flattens) and dropout (the identity at inference).
#include "nn/layer_lowering.hpp"

namespace npyflow {
namespace {

void parse_flatten(option_reader& r, layer_spec&) { r.ignore({"data_format"}); }
void parse_dropout(option_reader& r, layer_spec&) { r.ignore({"p", "rate", "inplace"}); }

bool bind_flatten(binding_context& ctx, bound_layer& b) {
    b.out = {element_count(b.in[0])};
    return fits_in_memory(ctx, b.out);
}

bool bind_identity(binding_context&, bound_layer& b) {
    b.out = b.in[0];
    return true;
}

void lower_flatten(lowering_context& ctx, const node& n) {
    ctx.output(n, ctx.view(ctx.plain(n, 0), ctx.plain_desc(n.out)), false);
}

void lower_identity(lowering_context& ctx, const node& n) {
    const value& v = ctx.input(n, 0);
    ctx.output(n, v.memory, v.channels);
}

}  // namespace

extern const layer_descriptor flatten_layer{
    .kind = layer_kind::flatten, .name = "flatten", .alias = nullptr, .has_weights = false, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_flatten, .bind = bind_flatten, .lower = lower_flatten, .flops = zero_flops};
extern const layer_descriptor dropout_layer{
    .kind = layer_kind::dropout, .name = "dropout", .alias = nullptr, .has_weights = false, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_dropout, .bind = bind_identity, .lower = lower_identity, .flops = zero_flops};

}  // namespace npyflow
