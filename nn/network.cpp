#include "nn/network.hpp"

#include <cmath>
#include <limits>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>

#include <dnnl.hpp>
#include <fmt/format.h>

#include "io/error.hpp"

// Debian's oneDNN runs on GNU OpenMP (libgomp). Its thread count is set with the standard
// OpenMP call, declared here and linked from libgomp directly, so every compiler sets the
// runtime oneDNN actually uses (clang's -fopenmp would bring LLVM's libomp instead).
extern "C" void omp_set_num_threads(int);

namespace npyflow {
namespace {

// Rows per oneDNN execution; see network::run.
constexpr std::size_t micro_batch_rows = 64;

using tag = dnnl::memory::format_tag;
using dt = dnnl::memory::data_type;
using dims = dnnl::memory::dims;

dims to_dims(std::initializer_list<std::uint64_t> v) {
    dims d;
    for (auto x : v) d.push_back(static_cast<dnnl::memory::dim>(x));
    return d;
}

// One node of the executed graph: a layer, possibly with batchnorm folded in and
// activations fused after it.
struct node {
    bound_layer layer;
    std::vector<std::pair<dnnl::algorithm, float>> post_ops;  // fused activations
    std::vector<std::shared_ptr<std::vector<float>>> owned;   // folded weights
    std::string text;
};

std::optional<std::pair<dnnl::algorithm, float>> activation(const layer_spec& s) {
    switch (s.kind) {
    case layer_kind::relu: return std::pair{dnnl::algorithm::eltwise_relu, 0.0f};
    case layer_kind::leaky_relu: return std::pair{dnnl::algorithm::eltwise_relu, static_cast<float>(s.negative_slope)};
    case layer_kind::sigmoid: return std::pair{dnnl::algorithm::eltwise_logistic, 0.0f};
    case layer_kind::tanh: return std::pair{dnnl::algorithm::eltwise_tanh, 0.0f};
    case layer_kind::gelu: return std::pair{dnnl::algorithm::eltwise_gelu_erf, 0.0f};
    default: return std::nullopt;
    }
}

// Folds an inference batchnorm into the conv or linear before it:
// w' = w * g / sqrt(var + eps) per output channel, b' = (b - mean) * g / sqrt(var + eps) + beta.
void fold_batchnorm(node& n, const bound_layer& bn, weight_layout layout) {
    auto& w = n.layer.params.at("weight");
    const auto& shape = w.shape;
    const std::uint64_t out = n.layer.spec->kind == layer_kind::linear
                                  ? (layout == weight_layout::torch ? shape[0] : shape[1])
                                  : (layout == weight_layout::torch ? shape[0] : shape[3]);
    std::vector<float> scale(out);
    const auto& g = bn.params.at("weight").values;
    const auto& beta = bn.params.at("bias").values;
    const auto& mean = bn.params.at("mean").values;
    const auto& var = bn.params.at("var").values;
    for (std::uint64_t o = 0; o < out; ++o) scale[o] = static_cast<float>(g[o] / std::sqrt(double{var[o]} + bn.eps));

    auto folded = std::make_shared<std::vector<float>>(w.values.begin(), w.values.end());
    const bool out_first = layout == weight_layout::torch;  // (O, ...) in torch, (..., O) in keras
    const std::uint64_t per_out = folded->size() / out;
    for (std::size_t i = 0; i < folded->size(); ++i) (*folded)[i] *= scale[out_first ? i / per_out : i % out];
    auto bias = std::make_shared<std::vector<float>>(out, 0.0f);
    for (std::uint64_t o = 0; o < out; ++o) {
        const float b = n.layer.params.contains("bias") ? n.layer.params.at("bias").values[o] : 0.0f;
        (*bias)[o] = (b - mean[o]) * scale[o] + beta[o];
    }
    w.values = *folded;
    n.owned.push_back(folded);
    n.layer.params["bias"] = bound_tensor{{out}, *bias, bias, bn.params.at("bias").source};
    n.owned.push_back(bias);
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

// Primitives and buffers for one batch size on one thread.
struct batch_plan {
    struct step {
        dnnl::primitive prim;
        std::unordered_map<int, dnnl::memory> args;
    };
    std::vector<step> steps;
    dnnl::memory input, output;  // their data handles are set for each run
};

struct network::impl {
    bound_model model;
    std::vector<node> nodes;
    std::uint64_t in_values = 0, out_values = 0;
    layer_kind last = layer_kind::linear;
    int omp_threads = 1;

    // One engine, stream and set of plans per thread that runs the network.
    struct thread_state {
        dnnl::engine engine{dnnl::engine::kind::cpu, 0};
        dnnl::stream stream{engine};
        std::map<std::size_t, batch_plan> plans;
        std::vector<float> tail_in, tail_out;  // the last, padded micro-batch
    };
    mutable std::mutex threads_mutex;
    mutable std::unordered_map<std::thread::id, std::unique_ptr<thread_state>> threads;

    batch_plan build(thread_state& t, std::size_t rows) const;
};

network::network(bound_model model, int omp_threads) : impl_(std::make_unique<impl>()) {
    auto& m = *impl_;
    m.omp_threads = std::max(1, omp_threads);
    m.model = std::move(model);
    for (const auto& l : m.model.layers) {
        const auto& s = *l.spec;
        if (s.kind == layer_kind::dropout) continue;  // identity at inference
        if (!m.nodes.empty()) {
            node& prev = m.nodes.back();
            const bool weighted = prev.layer.spec->kind == layer_kind::conv2d || prev.layer.spec->kind == layer_kind::linear;
            if (weighted && prev.post_ops.empty() && s.kind == layer_kind::batchnorm) {
                fold_batchnorm(prev, l, m.model.layout);
                prev.layer.out = l.out;
                prev.text += "+batchnorm";
                continue;
            }
            if (weighted) {
                if (auto act = activation(s)) {
                    prev.post_ops.push_back(*act);
                    prev.text += std::string("+") + std::string(name(s.kind));
                    continue;
                }
            }
        }
        m.nodes.push_back({l, {}, {}, std::string(name(s.kind))});
    }
    m.in_values = m.model.input.features();
    m.out_values = m.model.layers.back().out.features();
    m.last = m.model.layers.back().spec->kind;
}

std::uint64_t network::weight_bytes() const {
    std::uint64_t bytes = 0;
    for (const auto& n : impl_->nodes) {
        for (const auto& [role, t] : n.layer.params) bytes += t.values.size_bytes();
    }
    return bytes;
}

std::uint64_t network::activation_bytes() const {
    std::uint64_t values = impl_->in_values;
    for (const auto& n : impl_->nodes) values += n.layer.out.features();
    return values * micro_batch_rows * sizeof(float);
}

std::string network::largest_activation() const {
    const node* largest = nullptr;
    std::size_t at = 0;
    for (std::size_t i = 0; i < impl_->nodes.size(); ++i) {
        if (!largest || impl_->nodes[i].layer.out.features() > largest->layer.out.features()) {
            largest = &impl_->nodes[i];
            at = i;
        }
    }
    if (!largest) return "";
    return fmt::format("layer {} ({}), {} a row", at, largest->text, largest->layer.out.to_string());
}

network::~network() = default;

std::uint64_t network::input_values() const { return impl_->in_values; }
std::uint64_t network::output_values() const { return impl_->out_values; }
layer_kind network::last_layer() const { return impl_->last; }

std::string network::describe() const {
    std::vector<std::string> parts;
    for (const auto& n : impl_->nodes) parts.push_back(n.text);
    return fmt::format("{}", fmt::join(parts, " | "));
}

double network::flops_per_sample() const {
    double flops = 0;
    for (const auto& n : impl_->nodes) {
        const auto& l = n.layer;
        if (l.spec->kind == layer_kind::linear) flops += 2.0 * double(l.in.features()) * double(l.out.features());
        if (l.spec->kind == layer_kind::conv2d) {
            flops += 2.0 * double(l.out.features()) * double(l.in.c / l.spec->groups) * double(l.kernel[0] * l.kernel[1]);
        }
    }
    return flops;
}

batch_plan network::impl::build(thread_state& t, std::size_t rows) const {
    const auto& eng = t.engine;
    const bool torch = model.layout == weight_layout::torch;
    const tag spatial_tag = torch ? tag::nchw : tag::nhwc;
    batch_plan plan;

    auto spatial_md = [&](const activation_shape& a, tag f) {
        return dnnl::memory::desc(to_dims({rows, a.c, a.h, a.w}), dt::f32, f);
    };
    auto flat_md = [&](std::uint64_t features) { return dnnl::memory::desc(to_dims({rows, features}), dt::f32, tag::ab); };
    // Every primitive gets its scratchpad from the plan (scratchpad_mode::user) rather than
    // oneDNN's thread-global one, which other networks on the same thread free and resize.
    // dnnl::primitive_attr is a shared handle, so each primitive gets an attribute of its own.
    auto new_attr = [] {
        dnnl::primitive_attr attr;
        attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
        return attr;
    };
    const dnnl::primitive_attr plain_attr = new_attr();  // no post-ops: reorders, pooling, ...
    auto add_step = [&](dnnl::primitive prim, const dnnl::memory::desc& scratchpad,
                        std::unordered_map<int, dnnl::memory> args) {
        if (scratchpad.get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(scratchpad, eng);
        plan.steps.push_back({std::move(prim), std::move(args)});
    };
    auto add_reorder_into = [&](const dnnl::memory& from, const dnnl::memory& to) {
        const dnnl::reorder::primitive_desc pd(eng, from.get_desc(), eng, to.get_desc(), plain_attr);
        add_step(dnnl::reorder(pd), pd.scratchpad_desc(), {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}});
    };
    auto add_reorder = [&](const dnnl::memory& from, const dnnl::memory::desc& to_md) {
        dnnl::memory to(to_md, eng);
        add_reorder_into(from, to);
        return to;
    };
    // Flat (N, F) memory in the framework's flatten order: CHW for torch, HWC for keras.
    auto flattened = [&](const dnnl::memory& cur, const activation_shape& a) {
        dnnl::memory plain = cur;
        if (cur.get_desc().data.ndims == 4 && cur.get_desc() != spatial_md(a, spatial_tag)) {
            plain = add_reorder(cur, spatial_md(a, spatial_tag));
        }
        if (plain.get_desc().data.ndims == 2) return plain;
        // The input's data handle is only set when the plan runs, so a flat view of the input
        // must be the input memory itself.
        if (plain.get() == plan.input.get()) return plan.input = dnnl::memory(flat_md(a.features()), eng, nullptr);
        return dnnl::memory(flat_md(a.features()), eng, plain.get_data_handle());
    };
    auto reordered_weights = [&](const bound_tensor& w, const dnnl::memory::desc& user_md, const dnnl::memory::desc& want) {
        dnnl::memory user(user_md, eng, const_cast<float*>(w.values.data()));
        if (user_md == want) return user;
        dnnl::memory out(want, eng);
        const dnnl::reorder::primitive_desc pd(eng, user_md, eng, want, plain_attr);
        std::unordered_map<int, dnnl::memory> args{{DNNL_ARG_FROM, user}, {DNNL_ARG_TO, out}};
        if (pd.scratchpad_desc().get_size() > 0) args[DNNL_ARG_SCRATCHPAD] = dnnl::memory(pd.scratchpad_desc(), eng);
        dnnl::reorder(pd).execute(t.stream, args);
        t.stream.wait();
        return out;
    };
    auto attributes = [&](const node& nd) {
        dnnl::post_ops ops;
        for (const auto& [alg, alpha] : nd.post_ops) ops.append_eltwise(1.0f, alg, alpha, 0.0f);
        dnnl::primitive_attr attr = new_attr();
        attr.set_post_ops(ops);
        return attr;
    };

    const auto& in = model.input;
    plan.input = dnnl::memory(in.spatial ? spatial_md(in, spatial_tag) : flat_md(in.c), eng, nullptr);
    dnnl::memory cur = plan.input;

    for (const auto& nd : nodes) {
        const auto& l = nd.layer;
        const auto& s = *l.spec;
        switch (s.kind) {
        case layer_kind::conv2d: {
            const auto& w = l.params.at("weight");
            const std::uint64_t g = s.groups;
            const std::uint64_t o = l.out.c, i = l.in.c / g, kh = l.kernel[0], kw = l.kernel[1];
            const auto w_dims = g == 1 ? to_dims({o, i, kh, kw}) : to_dims({g, o / g, i, kh, kw});
            const tag w_tag = g == 1 ? (torch ? tag::oihw : tag::hwio) : (torch ? tag::goihw : tag::hwigo);
            const dnnl::memory::desc any_w(w_dims, dt::f32, tag::any);
            const dnnl::memory::desc bias_md(to_dims({o}), dt::f32, tag::a);
            const bool has_bias = l.params.contains("bias");
            const auto src_any = dnnl::memory::desc(to_dims({rows, l.in.c, l.in.h, l.in.w}), dt::f32, tag::any);
            const auto dst_any = dnnl::memory::desc(to_dims({rows, o, l.out.h, l.out.w}), dt::f32, tag::any);
            const dims strides = to_dims({l.stride[0], l.stride[1]});
            const dims dilates = to_dims({s.dilation[0] - 1, s.dilation[1] - 1});
            const dims pad_l = to_dims({l.pad_begin[0], l.pad_begin[1]}), pad_r = to_dims({l.pad_end[0], l.pad_end[1]});
            const auto desc = has_bias ? dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                                         dnnl::algorithm::convolution_direct, src_any,
                                                                         any_w, bias_md, dst_any, strides, dilates,
                                                                         pad_l, pad_r)
                                       : dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                                                         dnnl::algorithm::convolution_direct, src_any,
                                                                         any_w, dst_any, strides, dilates, pad_l, pad_r);
            const dnnl::convolution_forward::primitive_desc pd(desc, attributes(nd), eng);
            if (cur.get_desc() != pd.src_desc()) cur = add_reorder(cur, pd.src_desc());
            dnnl::memory dst(pd.dst_desc(), eng);
            std::unordered_map<int, dnnl::memory> args{
                {DNNL_ARG_SRC, cur},
                {DNNL_ARG_WEIGHTS, reordered_weights(w, dnnl::memory::desc(w_dims, dt::f32, w_tag), pd.weights_desc())},
                {DNNL_ARG_DST, dst}};
            if (has_bias) {
                args[DNNL_ARG_BIAS] = dnnl::memory(bias_md, eng, const_cast<float*>(l.params.at("bias").values.data()));
            }
            add_step(dnnl::convolution_forward(pd), pd.scratchpad_desc(), args);
            cur = dst;
            break;
        }
        case layer_kind::linear: {
            cur = flattened(cur, l.in);
            const std::uint64_t f = l.in.features(), o = l.out.c;
            const dnnl::memory::desc user_w(to_dims({f, o}), dt::f32, torch ? tag::ba : tag::ab);
            const dnnl::memory::desc any_w(to_dims({f, o}), dt::f32, tag::any);
            const dnnl::memory::desc bias_md(to_dims({1, o}), dt::f32, tag::ab);
            const bool has_bias = l.params.contains("bias");
            const auto desc = has_bias ? dnnl::matmul::desc(flat_md(f), any_w, bias_md, flat_md(o))
                                       : dnnl::matmul::desc(flat_md(f), any_w, flat_md(o));
            const dnnl::matmul::primitive_desc pd(desc, attributes(nd), eng);
            dnnl::memory dst(pd.dst_desc(), eng);
            std::unordered_map<int, dnnl::memory> args{
                {DNNL_ARG_SRC, cur}, {DNNL_ARG_WEIGHTS, reordered_weights(l.params.at("weight"), user_w, pd.weights_desc())},
                {DNNL_ARG_DST, dst}};
            if (has_bias) {
                args[DNNL_ARG_BIAS] = dnnl::memory(bias_md, eng, const_cast<float*>(l.params.at("bias").values.data()));
            }
            add_step(dnnl::matmul(pd), pd.scratchpad_desc(), args);
            cur = dst;
            break;
        }
        case layer_kind::batchnorm: {
            const auto flags = dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                               dnnl::normalization_flags::use_shift;
            const dnnl::batch_normalization_forward::desc desc(dnnl::prop_kind::forward_inference, cur.get_desc(),
                                                               static_cast<float>(l.eps), flags);
            const dnnl::batch_normalization_forward::primitive_desc pd(desc, plain_attr, eng);
            const dnnl::memory::desc c_md(to_dims({l.in.c}), dt::f32, tag::a);
            auto param = [&](const char* role) {
                return dnnl::memory(c_md, eng, const_cast<float*>(l.params.at(role).values.data()));
            };
            dnnl::memory dst(pd.dst_desc(), eng);
            add_step(dnnl::batch_normalization_forward(pd), pd.scratchpad_desc(),
                     {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}, {DNNL_ARG_MEAN, param("mean")},
                      {DNNL_ARG_VARIANCE, param("var")}, {DNNL_ARG_SCALE, param("weight")},
                      {DNNL_ARG_SHIFT, param("bias")}});
            cur = dst;
            break;
        }
        case layer_kind::maxpool2d:
        case layer_kind::avgpool2d:
        case layer_kind::global_avgpool2d: {
            // PyTorch's average pooling counts the padding by default; Keras's does not.
            const bool include_pad = s.count_include_pad.value_or(torch);
            const auto alg = s.kind == layer_kind::maxpool2d ? dnnl::algorithm::pooling_max
                             : include_pad ? dnnl::algorithm::pooling_avg_include_padding
                                           : dnnl::algorithm::pooling_avg_exclude_padding;
            const auto dst_any = dnnl::memory::desc(to_dims({rows, l.out.c, l.out.h, l.out.w}), dt::f32, tag::any);
            const dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, cur.get_desc(), dst_any,
                                                   to_dims({l.stride[0], l.stride[1]}), to_dims({l.kernel[0], l.kernel[1]}),
                                                   to_dims({l.pad_begin[0], l.pad_begin[1]}),
                                                   to_dims({l.pad_end[0], l.pad_end[1]}));
            const dnnl::pooling_forward::primitive_desc pd(desc, plain_attr, eng);
            dnnl::memory dst(pd.dst_desc(), eng);
            add_step(dnnl::pooling_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}});
            cur = dst;
            break;
        }
        case layer_kind::flatten: cur = flattened(cur, l.in); break;
        case layer_kind::softmax:
        case layer_kind::log_softmax: {
            cur = flattened(cur, l.in);
            dnnl::memory dst(cur.get_desc(), eng);
            if (s.kind == layer_kind::softmax) {
                const dnnl::softmax_forward::primitive_desc pd(
                    dnnl::softmax_forward::desc(dnnl::prop_kind::forward_inference, cur.get_desc(), 1), plain_attr, eng);
                add_step(dnnl::softmax_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}});
            } else {
                const dnnl::logsoftmax_forward::primitive_desc pd(
                    dnnl::logsoftmax_forward::desc(dnnl::prop_kind::forward_inference, cur.get_desc(), 1), plain_attr,
                    eng);
                add_step(dnnl::logsoftmax_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}});
            }
            cur = dst;
            break;
        }
        default: {  // a standalone activation
            const auto act = activation(s);
            const dnnl::eltwise_forward::primitive_desc pd(
                dnnl::eltwise_forward::desc(dnnl::prop_kind::forward_inference, act->first, cur.get_desc(), act->second, 0.0f),
                plain_attr, eng);
            dnnl::memory dst(pd.dst_desc(), eng);
            add_step(dnnl::eltwise_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, cur}, {DNNL_ARG_DST, dst}});
            cur = dst;
        }
        }
    }
    // The result as (N, outputs) in plain order, written straight into the caller's buffer.
    const auto& last_shape = model.layers.back().out;
    cur = flattened(cur, last_shape);
    plan.output = dnnl::memory(flat_md(last_shape.features()), eng, nullptr);
    if (!plan.steps.empty() && plan.steps.back().args.contains(DNNL_ARG_DST) &&
        plan.steps.back().args.at(DNNL_ARG_DST).get_desc() == plan.output.get_desc() &&
        plan.steps.back().args.at(DNNL_ARG_DST).get_data_handle() == cur.get_data_handle()) {
        plan.steps.back().args[DNNL_ARG_DST] = plan.output;
    } else {
        add_reorder_into(cur, plan.output);
    }
    return plan;
}

std::size_t network::run(std::span<const float> src, std::size_t rows, std::span<float> dst) const {
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
        if (!slot) slot = std::make_unique<impl::thread_state>();
        t = slot.get();
    }
    // By default one inference stream per pipeline thread: oneDNN's OpenMP stays on this
    // thread, so the pipeline's threads and oneDNN's never compete for the cores.
    omp_set_num_threads(m.omp_threads);
    auto it = t->plans.find(micro_batch_rows);
    if (it == t->plans.end()) {
        try {
            it = t->plans.emplace(micro_batch_rows, m.build(*t, micro_batch_rows)).first;
        } catch (const dnnl::error& e) {
            throw error(fmt::format("oneDNN cannot build the network: {} (each thread's activations need {:.3g} GB "
                                    "for a micro-batch; the largest: {})",
                                    e.what(), double(activation_bytes()) / 1e9, largest_activation()));
        }
    }
    batch_plan& plan = it->second;
    auto execute = [&](const float* in, float* out) {
        plan.input.set_data_handle(const_cast<float*>(in));
        plan.output.set_data_handle(out);
        for (auto& step : plan.steps) step.prim.execute(t->stream, step.args);
        t->stream.wait();
    };
    // Always micro_batch_rows at a time, the last chunk padded with zeros: oneDNN picks its
    // kernels by batch shape, so this keeps every row's result independent of the batch size.
    const std::size_t full = rows / micro_batch_rows * micro_batch_rows;
    for (std::size_t r = 0; r < full; r += micro_batch_rows) {
        execute(src.data() + r * m.in_values, dst.data() + r * m.out_values);
    }
    if (const std::size_t tail = rows - full; tail > 0) {
        t->tail_in.assign(micro_batch_rows * m.in_values, 0.0f);
        t->tail_out.resize(micro_batch_rows * m.out_values);
        std::copy_n(src.data() + full * m.in_values, tail * m.in_values, t->tail_in.data());
        execute(t->tail_in.data(), t->tail_out.data());
        std::copy_n(t->tail_out.data(), tail * m.out_values, dst.data() + full * m.out_values);
    }
    return poison_non_finite_rows(src, rows, m.in_values, dst, m.out_values);
}

}  // namespace npyflow
