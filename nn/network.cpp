#include "npyflow/nn/network.hpp"

#include <cmath>
#include <limits>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <dnnl.hpp>
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_lowering.hpp"

// Debian's oneDNN runs on GNU OpenMP (libgomp). Its thread count is set with the standard
// OpenMP call, declared here and linked from libgomp directly, so every compiler sets the
// runtime oneDNN actually uses (clang's -fopenmp would bring LLVM's libomp instead).
extern "C" void omp_set_num_threads(int);

namespace npyflow {
namespace {

// Rows per oneDNN execution (see network::run): 64, or fewer for a model whose plan for 64
// rows would take more than plan_budget_bytes a thread (a transformer over long sequences
// holds heads x T x T scores a row), so that such a model runs at all. The choice depends on
// the model alone, never on the batch, the threads or the memory free, so every row's result
// stays the same whatever those are.
constexpr std::size_t max_micro_batch_rows = 64;
constexpr std::uint64_t plan_budget_bytes = std::uint64_t{256} << 20;

// Folds an inference batchnorm into the conv or linear before it:
// w' = w * g / sqrt(var + eps) per output channel, b' = (b - mean) * g / sqrt(var + eps) + beta.
void fold_batchnorm(node& n, const bound_layer& bn) {
    const bound_tensor& w = n.params.at("weight");
    const std::uint64_t out = bn.params.at("mean").values.size();
    std::vector<float> scale(out);
    const auto& g = bn.params.at("weight").values;
    const auto& beta = bn.params.at("bias").values;
    const auto& mean = bn.params.at("mean").values;
    const auto& var = bn.params.at("var").values;
    for (std::uint64_t o = 0; o < out; ++o) scale[o] = static_cast<float>(g[o] / std::sqrt(double{var[o]} + bn.eps));

    std::vector<float> folded(w.values.begin(), w.values.end());
    // (O, ...) in torch, (..., O) in keras: the conv's or linear's own layout
    const bool out_first = n.layer->layout == weight_layout::torch;
    const std::uint64_t per_out = folded.size() / out;
    for (std::size_t i = 0; i < folded.size(); ++i) folded[i] *= scale[out_first ? i / per_out : i % out];
    std::vector<float> bias(out);
    for (std::uint64_t o = 0; o < out; ++o) {
        const float b = n.params.contains("bias") ? n.params.at("bias").values[o] : 0.0f;
        bias[o] = (b - mean[o]) * scale[o] + beta[o];
    }
    n.params["weight"] = make_tensor(w.shape, std::move(folded), w.source);
    n.params["bias"] = make_tensor({out}, std::move(bias), bn.params.at("bias").source);
}

// Sets every output of a row whose input is not all finite to NaN; returns how many rows.
std::size_t poison_non_finite_rows(std::span<const float> src, std::size_t rows, std::uint64_t in_values,
                                   std::span<float> dst, std::uint64_t out_values) {
    std::size_t poisoned = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const float* in = src.data() + r * in_values;
        bool finite = true;
        for (std::uint64_t i = 0; i < in_values; ++i) finite &= std::isfinite(in[i]);  // no branch: vectorizes
        if (finite) continue;
        std::fill_n(dst.data() + r * out_values, out_values, std::numeric_limits<float>::quiet_NaN());
        ++poisoned;
    }
    return poisoned;
}

}  // namespace

// Primitives and buffers for one micro-batch on one thread.
struct batch_plan {
    std::vector<plan_step> steps;
    std::vector<dnnl::memory> input_views, output_views;  // their data handles are set for each run
    std::vector<std::shared_ptr<void>> buffers;           // activations and the scratchpad
};

struct network::impl {
    bound_model model;
    std::vector<node> nodes;
    int output_node = -1;  // -1: the model's input itself
    std::vector<std::size_t> last_use;  // per node: the last node that reads its output
    std::uint64_t in_values = 0, out_values = 0;
    int omp_threads = 1;
    // One engine for every thread (engines are thread-safe, streams are not), so that the
    // weights reordered once serve every thread's primitives.
    dnnl::engine engine{dnnl::engine::kind::cpu, 0};
    mutable shared_weights weights;

    struct thread_state {
        explicit thread_state(const dnnl::engine& e) : stream(e) {}
        dnnl::stream stream;
        std::optional<batch_plan> plan;
        std::vector<float> tail_in, tail_out;  // the last, padded micro-batch
    };
    mutable std::mutex threads_mutex;
    mutable std::unordered_map<std::thread::id, std::unique_ptr<thread_state>> threads;

    void make_nodes();
    // Lowers every node into ctx and returns the model's output in the plain view.
    dnnl::memory lower(lowering_context& ctx) const;
    batch_plan build(thread_state& t, std::size_t rows) const;
    // One thread's buffers for a plan of `rows` rows, learnt by building its primitives
    // without allocating them.
    std::uint64_t measure_plan_bytes(std::size_t rows) const;
    mutable std::uint64_t reordered_bytes = 0;  // the weights as the primitives take them
    // Chooses the micro-batch (once) and returns it.
    std::size_t micro_batch() const;
    mutable std::once_flag micro_batch_chosen;
    mutable std::size_t micro_rows = max_micro_batch_rows;
    mutable std::uint64_t plan_bytes = 0;  // one thread's buffers, at micro_rows
};

// One node per layer, except where a layer joins the node before it: a batchnorm folded into
// a conv (or a linear on flat samples), an activation fused after one, a residual add fused
// into the conv computed last of its two inputs, and dropout, which is nothing at inference.
// Only a node whose output nothing else reads takes them.
void network::impl::make_nodes() {
    const auto& layers = model.layers;
    // What each layer's output really is, dropout seen through: a layer index, or -1.
    std::vector<int> real(layers.size());
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const int s = layers[i].inputs[0];
        real[i] = !descriptor(layers[i].spec.kind).identity_at_inference ? static_cast<int>(i)
                  : s < 0                                                ? -1
                                                                         : real[std::size_t(s)];
    }
    auto real_of = [&](int layer) { return layer < 0 ? -1 : real[std::size_t(layer)]; };
    std::vector<int> uses(layers.size(), 0);  // readers of each output, dropout seen through
    for (const auto& l : layers) {
        if (descriptor(l.spec.kind).identity_at_inference) continue;
        for (const int s : l.inputs) {
            if (real_of(s) >= 0) ++uses[std::size_t(real_of(s))];
        }
    }
    std::vector<int> node_of(layers.size(), -1);  // the node that gives each layer's output
    auto source_node = [&](int layer) { return real_of(layer) < 0 ? -1 : node_of[std::size_t(real_of(layer))]; };
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const bound_layer& l = layers[i];
        const layer_descriptor& d = descriptor(l.spec.kind);
        if (d.identity_at_inference) continue;
        const bool single_input = l.inputs.size() == 1 && real_of(l.inputs[0]) >= 0 &&
                                  uses[std::size_t(real_of(l.inputs[0]))] == 1;
        if (single_input) {
            node& prev = nodes[std::size_t(source_node(l.inputs[0]))];
            const auto& prev_kind = prev.layer->spec.kind;
            const bool weighted = descriptor(prev_kind).takes_post_ops;
            const bool per_channel = prev_kind != layer_kind::linear || prev.out.size() == 1;
            if (weighted && per_channel && prev.post_ops.empty() && l.spec.kind == layer_kind::batchnorm &&
                !prev.batchnorm_folded) {
                fold_batchnorm(prev, l);
                prev.batchnorm_folded = true;
                prev.text += "+batchnorm";
                node_of[i] = static_cast<int>(prev.index);
                continue;
            }
            if (weighted && d.activation) {
                prev.post_ops.push_back({d.activation(l.spec), -1});
                prev.text += std::string("+") + d.name;
                node_of[i] = static_cast<int>(prev.index);
                continue;
            }
        }
        if (l.spec.kind == layer_kind::add && l.inputs.size() == 2) {
            int late = real_of(l.inputs[1]), early = real_of(l.inputs[0]);
            if (source_node(l.inputs[0]) > source_node(l.inputs[1])) std::swap(late, early);
            const int late_node = late < 0 ? -1 : node_of[std::size_t(late)];
            const int early_node = early < 0 ? -1 : node_of[std::size_t(early)];
            if (late_node >= 0 && late != early && uses[std::size_t(late)] == 1 && early_node < late_node &&
                descriptor(nodes[std::size_t(late_node)].layer->spec.kind).takes_residual) {
                node& target = nodes[std::size_t(late_node)];
                target.post_ops.push_back({std::nullopt, early_node});
                target.text += "+add";
                node_of[i] = late_node;
                continue;
            }
        }
        node n;
        n.index = nodes.size();
        n.layer = &l;
        for (const int s : l.inputs) n.inputs.push_back(source_node(s));
        n.out = l.out;
        n.params = l.params;
        n.text = d.name;
        node_of[i] = static_cast<int>(n.index);
        nodes.push_back(std::move(n));
    }
    output_node = source_node(static_cast<int>(layers.size()) - 1);
    last_use.assign(nodes.size(), 0);
    for (const auto& n : nodes) {
        std::vector<int> reads = n.inputs;
        for (const auto& op : n.post_ops) {
            if (!op.eltwise) reads.push_back(op.residual);
        }
        for (const int s : reads) {
            if (s >= 0) last_use[std::size_t(s)] = std::max(last_use[std::size_t(s)], n.index);
        }
    }
    if (output_node >= 0) last_use[std::size_t(output_node)] = std::numeric_limits<std::size_t>::max();
}

network::network(bound_model model, int omp_threads) : impl_(std::make_unique<impl>()) {
    auto& m = *impl_;
    m.omp_threads = std::max(1, omp_threads);
    m.model = std::move(model);
    m.make_nodes();
    m.in_values = element_count(m.model.input);
    m.out_values = element_count(m.model.layers.back().out);
}

network::~network() = default;

std::uint64_t network::weight_bytes() const {
    std::uint64_t bytes = 0;
    for (const auto& n : impl_->nodes) {
        for (const auto& [role, t] : n.params) bytes += t.values.size_bytes();
    }
    return bytes;
}

// What a plan allocates: activations, reorders, the scratchpad, the padded tail.
std::uint64_t network::impl::measure_plan_bytes(std::size_t rows) const {
    dnnl::stream stream(engine);
    lowering_context ctx(engine, stream, weights, rows, model.layout, true);
    (void)lower(ctx);
    (void)ctx.take_steps();
    reordered_bytes = ctx.reordered_weight_bytes();
    return ctx.buffer_bytes() + 2 * rows * (in_values + out_values) * sizeof(float);
}

std::size_t network::impl::micro_batch() const {
    std::call_once(micro_batch_chosen, [&] {
        // A plan's buffers grow with its rows: halve them until the plan fits the budget.
        const std::uint64_t full = measure_plan_bytes(max_micro_batch_rows);
        std::size_t rows = max_micro_batch_rows;
        while (rows > 1 && full / max_micro_batch_rows * rows > plan_budget_bytes) rows /= 2;
        micro_rows = rows;
        plan_bytes = rows == max_micro_batch_rows ? full : measure_plan_bytes(rows);
    });
    return micro_rows;
}

std::uint64_t network::reordered_weight_bytes() const {
    (void)impl_->micro_batch();
    return impl_->reordered_bytes;
}

std::uint64_t network::activation_bytes() const {
    (void)impl_->micro_batch();
    return impl_->plan_bytes;
}

std::size_t network::micro_batch_rows() const { return impl_->micro_batch(); }

std::string network::largest_activation() const {
    const node* largest = nullptr;
    for (const auto& n : impl_->nodes) {
        if (!largest || element_count(n.out) > element_count(largest->out)) largest = &n;
    }
    if (!largest) return "";
    return fmt::format("layer {} ({}), {} a row", largest->index, largest->text, format_shape(largest->out));
}

std::uint64_t network::input_values() const { return impl_->in_values; }
std::uint64_t network::output_values() const { return impl_->out_values; }
const std::vector<std::uint64_t>& network::output_shape() const { return impl_->model.layers.back().out; }
layer_kind network::last_layer() const { return impl_->model.layers.back().spec.kind; }

std::string network::describe() const {
    std::vector<std::string> parts;
    for (const auto& n : impl_->nodes) parts.push_back(n.text);
    return fmt::format("{}", fmt::join(parts, " | "));
}

double network::flops_per_sample() const {
    double flops = 0;
    for (const auto& l : impl_->model.layers) flops += descriptor(l.spec.kind).flops(l);
    return flops;
}

dnnl::memory network::impl::lower(lowering_context& ctx) const {
    ctx.set_input(dnnl::memory(ctx.plain_desc(model.input), engine, nullptr), false);
    ctx.set_last_uses(last_use);
    for (const auto& n : nodes) {
        ctx.begin_node(n);
        descriptor(n.layer->spec.kind).lower(ctx, n);
        ctx.end_node(n);
    }
    return ctx.plain_value(output_node, model.layers.back().out);
}

batch_plan network::impl::build(thread_state& t, std::size_t rows) const {
    lowering_context ctx(engine, t.stream, weights, rows, model.layout);
    // The result as (rows, sample) in plain order, written straight into the caller's
    // buffer by the last step where that step's output already is those bytes.
    const dnnl::memory result = lower(ctx);
    const tensor_shape& out_shape = model.layers.back().out;
    const dnnl::memory output(ctx.plain_desc(out_shape), engine, nullptr);
    batch_plan plan;
    plan.steps = ctx.take_steps();
    bool redirected = false;
    if (!plan.steps.empty() && !plan.steps.back().host) {
        for (const int arg : {DNNL_ARG_DST, DNNL_ARG_DST_LAYER, DNNL_ARG_TO}) {
            auto it = plan.steps.back().args.find(arg);
            if (it == plan.steps.back().args.end() || it->second.get_data_handle() != result.get_data_handle() ||
                it->second.get_desc().get_size() != output.get_desc().get_size()) {
                continue;
            }
            it->second = dnnl::memory(it->second.get_desc(), engine, nullptr);
            plan.output_views.push_back(it->second);
            redirected = true;
            break;
        }
    }
    if (!redirected) {
        const dnnl::reorder::primitive_desc pd(engine, result.get_desc(), engine, output.get_desc(), ctx.plain_attr());
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, result}, {DNNL_ARG_TO, output}};
        if (pd.scratchpad_desc().get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(pd.scratchpad_desc(), engine);
        plan.steps.push_back({dnnl::reorder(pd), std::move(args), {}});
        plan.output_views.push_back(output);
    }
    plan.input_views = ctx.input_views();
    plan.buffers = ctx.take_buffers();
    return plan;
}

void network::release_plans() {
    const std::lock_guard lock(impl_->threads_mutex);
    impl_->threads.clear();
}

std::size_t network::run(std::span<const float> src, std::size_t rows, std::span<float> dst,
                         std::uint64_t first_row) const {
    auto& m = *impl_;
    if (src.size() != rows * m.in_values || dst.size() != rows * m.out_values) {
        throw error(fmt::format("network: {} rows need {} input and {} output values, got {} and {}", rows,
                                rows * m.in_values, rows * m.out_values, src.size(), dst.size()));
    }
    if (rows == 0) return 0;
    impl::thread_state* t = nullptr;
    {
        const std::lock_guard lock(m.threads_mutex);
        auto& slot = m.threads[std::this_thread::get_id()];
        if (!slot) slot = std::make_unique<impl::thread_state>(m.engine);
        t = slot.get();
    }
    // By default one inference stream per pipeline thread: oneDNN's OpenMP stays on this
    // thread, so the pipeline's threads and oneDNN's never compete for the cores.
    omp_set_num_threads(m.omp_threads);
    if (!t->plan) {
        try {
            t->plan = m.build(*t, m.micro_batch());
        } catch (const dnnl::error& e) {
            throw error(fmt::format("oneDNN cannot build the network: {} (the largest activation: {}, for each of "
                                    "{} rows)",
                                    e.what(), largest_activation(), m.micro_rows));
        }
    }
    const std::size_t chunk = m.micro_batch();
    batch_plan& plan = *t->plan;
    auto execute = [&](const float* in, float* out, std::uint64_t first) {
        for (auto& v : plan.input_views) v.set_data_handle(const_cast<float*>(in));
        for (auto& v : plan.output_views) v.set_data_handle(out);
        for (auto& step : plan.steps) {
            if (step.host) {
                t->stream.wait();
                step.host(first);
            } else {
                step.primitive.execute(t->stream, step.args);
            }
        }
        t->stream.wait();
    };
    // Always `chunk` rows at a time, the last chunk padded with zeros: oneDNN picks its
    // kernels by batch shape, so this keeps every row's result independent of the batch size.
    const std::size_t full = rows / chunk * chunk;
    for (std::size_t r = 0; r < full; r += chunk) {
        execute(src.data() + r * m.in_values, dst.data() + r * m.out_values, first_row + r);
    }
    if (const std::size_t tail = rows - full; tail > 0) {
        t->tail_in.assign(chunk * m.in_values, 0.0f);
        t->tail_out.resize(chunk * m.out_values);
        std::copy_n(src.data() + full * m.in_values, tail * m.in_values, t->tail_in.data());
        execute(t->tail_in.data(), t->tail_out.data(), first_row + full);
        std::copy_n(t->tail_out.data(), tail * m.out_values, dst.data() + full * m.out_values);
    }
    return poison_non_finite_rows(src, rows, m.in_values, dst, m.out_values);
}

}  // namespace npyflow
