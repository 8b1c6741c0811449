#include "npyflow/nn/layer_lowering.hpp"

#include <cstdlib>
#include <limits>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {

dnnl::memory::dims to_dims(const std::vector<std::uint64_t>& v) {
    dnnl::memory::dims d;
    for (auto x : v) d.push_back(static_cast<dnnl::memory::dim>(x));
    return d;
}

dnnl::memory shared_weights::get(const std::string& key, const dnnl::memory& user, const dnnl::memory::desc& want,
                                 const dnnl::engine& engine, dnnl::stream& stream) {
    if (user.get_desc() == want) return user;
    const std::lock_guard lock(mutex_);
    if (const auto it = reordered_.find(key); it != reordered_.end() && it->second.get_desc() == want) return it->second;
    dnnl::memory out(want, engine), from = user;
    dnnl::reorder(from, out).execute(stream, from, out);
    stream.wait();
    // Every thread's primitive asks for the same format for the same shapes; kept for them.
    reordered_.try_emplace(key, out);
    return out;
}

std::uint64_t shared_weights::bytes() const {
    const std::lock_guard lock(mutex_);
    std::uint64_t total = 0;
    for (const auto& [key, m] : reordered_) total += m.get_desc().get_size();
    return total;
}

lowering_context::lowering_context(const dnnl::engine& engine, dnnl::stream& stream, shared_weights& weights,
                                   std::size_t rows, weight_layout layout, bool measuring)
    : engine_(engine), stream_(stream), weights_(weights), rows_(rows), layout_(layout), measuring_(measuring) {}

dnnl::memory::desc lowering_context::plain_desc(const tensor_shape& shape) const {
    std::vector<std::uint64_t> dims{rows_};
    dims.insert(dims.end(), shape.begin(), shape.end());
    dnnl::memory::dims strides(dims.size(), 1);
    for (std::size_t i = dims.size() - 1; i > 0; --i) strides[i - 1] = strides[i] * static_cast<dnnl::memory::dim>(dims[i]);
    return {to_dims(dims), dnnl::memory::data_type::f32, strides};
}

dnnl::memory::desc lowering_context::channels_desc(const tensor_shape& shape) const {
    if (torch() || shape.size() == 1) return plain_desc(shape);
    // (rows, spatial..., C) in memory, described with oneDNN's dims (rows, C, spatial...).
    const std::size_t rank = shape.size();
    const auto c = static_cast<dnnl::memory::dim>(shape.back());
    dnnl::memory::dims dims{static_cast<dnnl::memory::dim>(rows_), c}, strides(rank + 1);
    for (std::size_t i = 0; i + 1 < rank; ++i) dims.push_back(static_cast<dnnl::memory::dim>(shape[i]));
    strides[1] = 1;
    dnnl::memory::dim step = c;
    for (std::size_t i = rank; i >= 2; --i) {  // spatial axes, last first
        strides[i] = step;
        step *= dims[i];
    }
    strides[0] = step;
    return {dims, dnnl::memory::data_type::f32, strides};
}

bool lowering_context::aliases_input(const dnnl::memory& m) const {
    for (const auto& v : input_views_) {
        if (v.get() == m.get()) return true;
    }
    return false;
}

dnnl::memory lowering_context::view(const dnnl::memory& m, const dnnl::memory::desc& desc) {
    if (m.get_desc() == desc) return m;
    if (desc.get_size() != m.get_desc().get_size()) {
        throw error(fmt::format("internal: a view of {} bytes on {}", desc.get_size(), m.get_desc().get_size()));
    }
    dnnl::memory v(desc, engine_, m.get_data_handle());
    if (aliases_input(m)) input_views_.push_back(v);
    return v;
}

void lowering_context::set_input(dnnl::memory m, bool channels) {
    input_ = {m, channels};
    input_views_ = {m};
}

const value& lowering_context::result(int node_index) const {
    return node_index < 0 ? input_ : values_.at(static_cast<std::size_t>(node_index));
}

const value& lowering_context::input(const node& n, std::size_t i) const { return result(n.inputs.at(i)); }

dnnl::memory lowering_context::plain_value(int node_index, const tensor_shape& shape) {
    const value v = result(node_index);  // a copy: reorders below may grow values_
    if (!v.channels) return reorder_to(v.memory, plain_desc(shape));
    return view(reorder_to(v.memory, channels_desc(shape)), plain_desc(shape));
}

dnnl::memory lowering_context::plain(const node& n, std::size_t i) { return plain_value(n.inputs.at(i), n.layer->in.at(i)); }

dnnl::memory lowering_context::channels(const node& n, std::size_t i) {
    const value v = input(n, i);
    if (v.channels) return v.memory;
    const tensor_shape& shape = n.layer->in.at(i);
    return view(reorder_to(v.memory, plain_desc(shape)), channels_desc(shape));
}

std::shared_ptr<void> lowering_context::allocate(std::size_t bytes) {
    constexpr std::size_t alignment = 64;  // a cache line, as oneDNN's own buffers
    void* p = std::aligned_alloc(alignment, (std::max<std::size_t>(bytes, 1) + alignment - 1) / alignment * alignment);
    if (!p) throw std::bad_alloc();
    return {p, std::free};
}

dnnl::memory lowering_context::new_memory(const dnnl::memory::desc& desc) {
    const std::size_t bytes = desc.get_size();
    block* best = nullptr;
    for (auto& b : blocks_) {
        if (!b.in_use && b.bytes >= bytes && (!best || b.bytes < best->bytes)) best = &b;
    }
    if (!best) {
        std::byte* data = nullptr;
        if (measuring_) {  // an address only, never read or written
            data = reinterpret_cast<std::byte*>(next_measured_);
            next_measured_ += (bytes + 63) / 64 * 64 + 64;
        } else {
            owned_.push_back(allocate(bytes));
            data = static_cast<std::byte*>(owned_.back().get());
        }
        blocks_.push_back({data, bytes, false, 0});
        best = &blocks_.back();
    }
    best->in_use = true;
    best->free_after = current_;  // a temporary of this node, unless end_node finds the output in it
    return dnnl::memory(desc, engine_, best->data);
}

void lowering_context::end_node(const node& n) {
    if (n.index < values_.size() && values_[n.index].memory) {
        const void* out = values_[n.index].memory.get_data_handle();
        for (auto& b : blocks_) {
            if (b.in_use && b.holds(out)) {
                b.free_after = std::max(b.free_after, n.index < last_use_.size() ? last_use_[n.index]
                                                                                  : std::numeric_limits<std::size_t>::max());
            }
        }
    }
    for (auto& b : blocks_) {
        if (b.in_use && b.free_after <= n.index) b.in_use = false;
    }
}

std::uint64_t lowering_context::buffer_bytes() const {
    std::uint64_t total = scratchpad_bytes_;
    for (const auto& b : blocks_) total += b.bytes;
    return total;
}

std::vector<plan_step> lowering_context::take_steps() {
    if (scratchpad_bytes_ > 0 && !measuring_) {
        owned_.push_back(allocate(scratchpad_bytes_));
        for (auto& m : scratchpads_) m.set_data_handle(owned_.back().get());
    }
    return std::move(steps_);
}

dnnl::memory lowering_context::reorder(const dnnl::memory& m, const dnnl::memory::desc& to) {
    dnnl::memory out = new_memory(to);
    const dnnl::reorder::primitive_desc pd(engine_, m.get_desc(), engine_, to, plain_attr());
    add(dnnl::reorder(pd), pd.scratchpad_desc(), {{DNNL_ARG_FROM, m}, {DNNL_ARG_TO, out}});
    return out;
}

// Every primitive gets its scratchpad from the plan (scratchpad_mode::user) rather than
// oneDNN's thread-global one, which other networks on the same thread free and resize.
// dnnl::primitive_attr is a shared handle, so each primitive gets an attribute of its own.
dnnl::primitive_attr lowering_context::plain_attr() const {
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
    return attr;
}

dnnl::primitive_attr lowering_context::attr(const node& n, const dnnl::memory::desc& dst, std::size_t first,
                                            std::size_t last) const {
    dnnl::post_ops ops;
    for (std::size_t k = first; k < std::min(last, n.post_ops.size()); ++k) {
        const auto& op = n.post_ops[k];
        if (op.eltwise) {
            ops.append_eltwise(1.0f, op.eltwise->algorithm, op.eltwise->alpha, 0.0f);
        } else {
            ops.append_binary(dnnl::algorithm::binary_add, dst);
        }
    }
    dnnl::primitive_attr a = plain_attr();
    a.set_post_ops(ops);
    return a;
}

namespace {

// A residual's tensor as the conv's output format has it: its channels view (reordered
// from the plain view if need be), then in `dst`'s format (a jit kernel needs them alike).
dnnl::memory residual_in(lowering_context& ctx, const node& n, std::size_t k, const dnnl::memory::desc& dst) {
    const value v = ctx.result(n.post_ops[k].residual);
    const dnnl::memory channels_view =
        v.channels ? v.memory : ctx.view(ctx.reorder_to(v.memory, ctx.plain_desc(n.out)), ctx.channels_desc(n.out));
    return ctx.reorder_to(channels_view, dst);
}

}  // namespace

void lowering_context::residual_args(const node& n, const dnnl::memory::desc& dst,
                                     std::unordered_map<int, dnnl::memory>& args) {
    for (std::size_t k = 0; k < n.post_ops.size(); ++k) {
        if (n.post_ops[k].eltwise) continue;
        args[DNNL_ARG_ATTR_MULTIPLE_POST_OP(static_cast<int>(k)) | DNNL_ARG_SRC_1] = residual_in(*this, n, k, dst);
    }
}

dnnl::memory lowering_context::apply_post_ops(const node& n, dnnl::memory m, std::size_t first) {
    for (std::size_t k = first; k < n.post_ops.size();) {
        if (n.post_ops[k].eltwise) {  // activations before any add: an eltwise primitive each
            const auto& e = *n.post_ops[k].eltwise;
            const dnnl::eltwise_forward::primitive_desc pd(
                {dnnl::prop_kind::forward_inference, e.algorithm, m.get_desc(), e.alpha, 0.0f}, plain_attr(), engine_);
            dnnl::memory out = new_memory(m.get_desc());
            add(dnnl::eltwise_forward(pd), pd.scratchpad_desc(), {{DNNL_ARG_SRC, m}, {DNNL_ARG_DST, out}});
            m = out;
            ++k;
            continue;
        }
        // The add, carrying the activations up to the next add.
        std::size_t next = k + 1;
        while (next < n.post_ops.size() && n.post_ops[next].eltwise) ++next;
        const dnnl::binary::primitive_desc pd({dnnl::algorithm::binary_add, m.get_desc(), m.get_desc(), m.get_desc()},
                                              attr(n, m.get_desc(), k + 1, next), engine_);
        dnnl::memory out = new_memory(m.get_desc());
        add(dnnl::binary(pd), pd.scratchpad_desc(),
            {{DNNL_ARG_SRC_0, m}, {DNNL_ARG_SRC_1, residual_in(*this, n, k, m.get_desc())}, {DNNL_ARG_DST, out}});
        m = out;
        k = next;
    }
    return m;
}

void lowering_context::add(dnnl::primitive p, const dnnl::memory::desc& scratchpad,
                           std::unordered_map<int, dnnl::memory> args) {
    if (scratchpad.get_size() > 0) {  // one buffer for every step's, set in take_steps
        scratchpads_.emplace_back(scratchpad, engine_, nullptr);
        scratchpad_bytes_ = std::max(scratchpad_bytes_, scratchpad.get_size());
        args[DNNL_ARG_SCRATCHPAD] = scratchpads_.back();
    }
    steps_.push_back({std::move(p), std::move(args), {}});
}

void lowering_context::add_host(std::function<void(std::uint64_t)> step) { steps_.push_back({{}, {}, std::move(step)}); }

dnnl::memory lowering_context::constant(const bound_tensor& t, const dnnl::memory::desc& desc) const {
    if (desc.get_size() != t.values.size_bytes()) {
        throw error(fmt::format("internal: array '{}' of {} bytes bound as {}", t.source, t.values.size_bytes(),
                                desc.get_size()));
    }
    return dnnl::memory(desc, engine_, const_cast<float*>(t.values.data()));
}

dnnl::memory lowering_context::weights(const node& n, const std::string& role, const dnnl::memory::desc& user,
                                       const dnnl::memory::desc& want) {
    if (measuring_) {
        if (want != user) reordered_weight_bytes_ += want.get_size();
        return dnnl::memory(want, engine_, nullptr);
    }
    return weights_.get(fmt::format("{}/{}", n.index, role), constant(n.params.at(role), user), want, engine_, stream_);
}

void lowering_context::output(const node& n, dnnl::memory m, bool channels) {
    if (values_.size() <= n.index) values_.resize(n.index + 1);
    values_[n.index] = {std::move(m), channels};
}

}  // namespace npyflow
