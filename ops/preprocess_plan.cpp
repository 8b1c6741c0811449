#include "npyflow/ops/preprocess_plan.hpp"

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/ops/cast.hpp"
#include "npyflow/ops/kernel_clones.hpp"
#include "npyflow/ops/saturate_cast.hpp"

namespace npyflow {

struct preprocess_plan::pass {
    sample_desc in, out;
    virtual ~pass() = default;
    virtual void run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows) const = 0;
};

namespace {

// Values per tile: 4 KiB of floats, small enough to stay in L1 between ops.
constexpr std::size_t tile_values = 1024;

template <typename From, typename T>
NPYFLOW_KERNEL void load_values(const std::byte* src, T* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        From v;
        std::memcpy(&v, src + i * sizeof(From), sizeof(From));
        dst[i] = saturate_cast<T>(v);
    }
}

template <typename T, typename To>
NPYFLOW_KERNEL void store_values(const T* src, std::byte* dst, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
        const To v = saturate_cast<To>(src[i]);
        std::memcpy(dst + i * sizeof(To), &v, sizeof(To));
    }
}

// Load (with a cast), elementwise ops, store (with a cast), one tile at a time.
template <typename T>
struct fused_pass final : preprocess_plan::pass {
    std::vector<const elementwise_op*> ops;
    void (*load)(const std::byte*, T*, std::size_t) = nullptr;
    void (*store)(const T*, std::byte*, std::size_t) = nullptr;
    bool by_sample = false;  // tiles must not cross samples: some op depends on the position

    fused_pass(const sample_desc& in_desc, dtype out_type, std::vector<const elementwise_op*> fused)
        : ops(std::move(fused)) {
        in = in_desc;
        out = {out_type, in_desc.shape};
        visit_dtype(in.type, [&](auto from) { load = &load_values<decltype(from), T>; });
        visit_dtype(out.type, [&](auto to) { store = &store_values<T, decltype(to)>; });
        by_sample = std::any_of(ops.begin(), ops.end(), [](auto* op) { return op->position_dependent(); });
    }

    void run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows) const override {
        const std::size_t per_sample = by_sample ? in.elements() : rows * in.elements();
        const std::size_t samples = by_sample ? rows : 1;
        const std::size_t in_item = itemsize(in.type);
        const std::size_t out_item = itemsize(out.type);
        alignas(64) T tile[tile_values];
        for (std::size_t s = 0; s < samples; ++s) {
            for (std::size_t pos = 0; pos < per_sample; pos += tile_values) {
                const std::size_t n = std::min(tile_values, per_sample - pos);
                const std::size_t at = s * per_sample + pos;
                load(src.data() + at * in_item, tile, n);
                for (const auto* op : ops) op->apply(std::span<T>(tile, n), pos);
                store(tile, dst.data() + at * out_item, n);
            }
        }
    }
};

struct cast_pass final : preprocess_plan::pass {
    const cast_op* cast;
    cast_pass(const sample_desc& in_desc, const cast_op* c) : cast(c) {
        in = in_desc;
        out = c->infer(in_desc);
    }
    void run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows) const override {
        cast->run(in.type, src.data(), dst.data(), rows * in.elements());
    }
};

struct layout_pass final : preprocess_plan::pass {
    const layout_op* op;
    layout_pass(const sample_desc& in_desc, const layout_op* o) : op(o) {
        in = in_desc;
        out = o->infer(in_desc);
    }
    void run(std::span<const std::byte> src, std::span<std::byte> dst, std::size_t rows) const override {
        op->run(src, dst, rows, in);
    }
};

std::string cast_text(const cast_op* c) { return fmt::format("cast({})", name(c->to())); }

}  // namespace

preprocess_plan::preprocess_plan(std::vector<op_ptr> ops, sample_desc input)
    : ops_(std::move(ops)), input_(input), output_(input) {
    sample_desc desc = input;
    auto infer_at = [&](std::size_t i, const sample_desc& in) {
        return with_context(fmt::format("preprocess[{}] ({})", i, ops_[i]->name()), [&] { return ops_[i]->infer(in); });
    };
    auto as_cast = [&](std::size_t i) { return i < ops_.size() ? dynamic_cast<const cast_op*>(ops_[i].get()) : nullptr; };
    auto as_elementwise = [&](std::size_t i) {
        return i < ops_.size() ? dynamic_cast<elementwise_op*>(ops_[i].get()) : nullptr;
    };

    for (std::size_t i = 0; i < ops_.size();) {
        if (auto* layout = dynamic_cast<const layout_op*>(ops_[i].get())) {
            const sample_desc out = infer_at(i, desc);
            if (layout->moves_data()) {
                passes_.push_back(std::make_unique<layout_pass>(desc, layout));
                description_.emplace_back(layout->name());
            }
            desc = out;
            ++i;
            continue;
        }
        // A chain: an optional leading cast, elementwise ops, an optional trailing cast.
        const sample_desc chain_in = desc;
        std::vector<std::string> names;
        const cast_op* lead = as_cast(i);
        if (lead) {
            desc = infer_at(i++, desc);
            names.push_back(cast_text(lead));
        }
        std::vector<const elementwise_op*> fused;
        while (auto* e = as_elementwise(i)) {
            desc = infer_at(i, desc);
            e->prepare(desc);
            fused.push_back(e);
            names.emplace_back(e->name());
            ++i;
        }
        if (fused.empty()) {  // a cast on its own converts directly, never through a float
            passes_.push_back(std::make_unique<cast_pass>(chain_in, lead));
            description_.push_back(cast_text(lead));
            continue;
        }
        const dtype compute = desc.type;
        if (const cast_op* trail = as_cast(i)) {
            desc = infer_at(i++, desc);
            names.push_back(cast_text(trail));
        }
        if (compute == dtype::float32) {
            passes_.push_back(std::make_unique<fused_pass<float>>(chain_in, desc.type, std::move(fused)));
        } else {
            passes_.push_back(std::make_unique<fused_pass<double>>(chain_in, desc.type, std::move(fused)));
        }
        description_.push_back(fmt::format("{}", fmt::join(names, "+")));
    }
    output_ = desc;
}

preprocess_plan::~preprocess_plan() = default;
preprocess_plan::preprocess_plan(preprocess_plan&&) noexcept = default;
preprocess_plan& preprocess_plan::operator=(preprocess_plan&&) noexcept = default;

std::string preprocess_plan::describe() const {
    return description_.empty() ? "identity" : fmt::format("{}", fmt::join(description_, " | "));
}

std::span<const std::byte> preprocess_plan::run(std::span<const std::byte> src, std::size_t rows,
                                                scratch& buffers) const {
    std::span<const std::byte> current = src;
    std::size_t next = 0;
    for (const auto& p : passes_) {
        auto& buffer = buffers[next];
        buffer.resize(rows * p->out.bytes());
        p->run(current, buffer, rows);
        current = buffer;
        next ^= 1;
    }
    return current;
}

}  // namespace npyflow
