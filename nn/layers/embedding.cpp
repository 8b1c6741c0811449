// embedding: each value of the sample is an id (an integer, held in the float32 input) that
// picks a row of "weight" (torch) / "embeddings" (keras), (num_embeddings, embedding_dim).
// A sample (T) gives (T, embedding_dim). An id that is not a whole number in
// [0, num_embeddings) stops the job with an error naming its row: no row of the table is
// the right answer for it.
#include <cmath>
#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

namespace npyflow {
namespace {

// The largest id a float32 holds exactly with every id below it: 2^24.
constexpr std::uint64_t max_exact_id = std::uint64_t{1} << 24;

void parse_embedding(option_reader& r, layer_spec& l) {
    l.num_embeddings = r.positive({"num_embeddings", "input_dim"});
    l.out_features = r.positive({"embedding_dim", "output_dim"});
    r.ignore({"padding_idx", "input_length"});  // training only; a shape the input gives
    if (l.num_embeddings && *l.num_embeddings > max_exact_id + 1) {
        throw error(fmt::format("'num_embeddings' is {}: ids past 2^24 do not survive the float32 input exactly",
                                *l.num_embeddings));
    }
    if (r.boolean({"mask_zero"}).value_or(false)) {
        throw error("'mask_zero' true: npyflow does not mask time steps; the layers after it would see id 0's row");
    }
}

bool bind_embedding(binding_context& ctx, bound_layer& b) {
    const auto& s = b.spec;
    std::uint64_t flat_values = s.num_embeddings && s.out_features ? saturating_product({*s.num_embeddings, *s.out_features}) : 0;
    auto table = ctx.fetch("weight", ctx.torch() ? "weight" : "embeddings", flat_values);
    if (!table) return false;
    std::uint64_t n = s.num_embeddings.value_or(0), d = s.out_features.value_or(0);
    if (table->shape.size() == 2) {
        if (!n) n = table->shape[0];
        if (!d) d = table->shape[1];
    }
    if (!n || !d) return ctx.problem(fmt::format("array '{}' must be 2-D (num_embeddings, embedding_dim)", table->source));
    if (!ctx.check_shape(*table, {n, d}, "(num_embeddings, embedding_dim)")) return false;
    if (n > max_exact_id + 1) {
        return ctx.problem(fmt::format("array '{}' has {} rows: ids past 2^24 do not survive the float32 input exactly",
                                       table->source, n));
    }
    table->shape = {n, d};
    b.params["weight"] = *table;
    b.out = b.in[0];
    b.out.push_back(d);
    return fits_in_memory(ctx, b.out);
}

void lower_embedding(lowering_context& ctx, const node& n) {
    const dnnl::memory ids = ctx.plain(n, 0);
    dnnl::memory dst = ctx.new_memory(ctx.plain_desc(n.out));
    const bound_tensor& table = n.params.at("weight");
    const std::uint64_t count = table.shape[0], width = table.shape[1];
    const std::uint64_t per_row = element_count(n.layer->in[0]);
    const std::size_t rows = ctx.rows();
    const std::string where = n.layer->spec.where();
    ctx.add_host([=](std::uint64_t first_row) {
        const auto* id = static_cast<const float*>(ids.get_data_handle());
        auto* out = static_cast<float*>(dst.get_data_handle());
        for (std::size_t i = 0; i < rows * per_row; ++i) {
            const float v = id[i];
            if (!(v >= 0 && v < static_cast<float>(count) && std::floor(v) == v)) {
                throw error(fmt::format("{}: input row {} holds id {} at position {}, not a whole number from 0 to {}",
                                        where, first_row + i / per_row, v, i % per_row, count - 1));
            }
            std::memcpy(out + i * width, table.values.data() + static_cast<std::uint64_t>(v) * width, width * sizeof(float));
        }
    });
    ctx.output(n, dst, false);
}

}  // namespace

extern const layer_descriptor embedding_layer{
    .kind = layer_kind::embedding, .name = "embedding", .alias = nullptr, .has_weights = true, .min_inputs = 1,
    .max_inputs = 1, .parse = parse_embedding, .bind = bind_embedding, .lower = lower_embedding, .flops = zero_flops};

}  // namespace npyflow
