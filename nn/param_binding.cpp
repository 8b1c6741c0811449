#include "nn/param_binding.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "io/byteswap.hpp"
#include "io/error.hpp"
#include "io/float16.hpp"

namespace npyflow {
namespace {

// The arrays' names in each framework, by canonical role, in the order frameworks store them
// (state_dict and get_weights order), which is also the order of positional and flat weights.
std::vector<std::pair<std::string, std::string>> roles(layer_kind kind, weight_layout layout, bool bias) {
    const bool torch = layout == weight_layout::torch;
    std::vector<std::pair<std::string, std::string>> r;
    if (kind == layer_kind::batchnorm) {
        return torch ? decltype(r){{"weight", "weight"}, {"bias", "bias"}, {"mean", "running_mean"}, {"var", "running_var"}}
                     : decltype(r){{"weight", "gamma"}, {"bias", "beta"}, {"mean", "moving_mean"}, {"var", "moving_variance"}};
    }
    if (kind == layer_kind::linear || kind == layer_kind::conv2d) {
        r.push_back({"weight", torch ? "weight" : "kernel"});
        if (bias) r.push_back({"bias", "bias"});
    }
    return r;
}

std::size_t edit_distance(const std::string& a, const std::string& b) {
    std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        cur[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
        }
        std::swap(prev, cur);
    }
    return prev[b.size()];
}

// The names most like `wanted`: first those of the same layer (same prefix before the last
// '.' or '/'), then by edit distance.
std::string closest(const std::string& wanted, const std::vector<std::string>& names) {
    const auto cut = wanted.find_last_of("./");
    const std::string layer = cut == std::string::npos ? "" : wanted.substr(0, cut + 1);
    std::vector<std::pair<std::size_t, std::string>> scored;
    for (const auto& n : names) {
        const bool same_layer = !layer.empty() && n.starts_with(layer);
        scored.emplace_back((same_layer ? 0 : 1000) + edit_distance(wanted, n), n);
    }
    std::sort(scored.begin(), scored.end());
    std::vector<std::string> best;
    for (std::size_t i = 0; i < scored.size() && i < 3; ++i) best.push_back("'" + scored[i].second + "'");
    return best.empty() ? "none" : fmt::format("{}", fmt::join(best, ", "));
}

// The array as float32 values of its own, copied (and converted) from the file now: values
// used in place in the mapping would change under a running job if the file were rewritten,
// and each thread reorders its copy of the weights only at its first batch. Throws for
// types that cannot be weights.
bound_tensor to_float(const npy_array& a, const std::string& name) {
    const auto& h = a.header();
    bound_tensor t{h.shape, {}, nullptr, name};
    const std::size_t n = h.element_count();
    if (h.type != dtype::float32 && h.type != dtype::float64 && h.type != dtype::float16) {
        throw error(fmt::format("array '{}' has dtype {}, which cannot be used as weights (float16, float32 or "
                                "float64)", name, npyflow::name(h.type)));
    }
    std::vector<std::byte> raw(n * itemsize(h.type));
    a.copy_rows(0, a.rows(), raw);  // C order, little endian
    auto values = std::make_shared<std::vector<float>>(n);
    for (std::size_t i = 0; i < n; ++i) {
        if (h.type == dtype::float64) {
            double v;
            std::memcpy(&v, raw.data() + 8 * i, 8);
            (*values)[i] = static_cast<float>(v);
        } else if (h.type == dtype::float16) {
            std::uint16_t v;
            std::memcpy(&v, raw.data() + 2 * i, 2);
            (*values)[i] = half_to_float(v);
        } else {
            std::memcpy(&(*values)[i], raw.data() + 4 * i, 4);
        }
    }
    t.values = *values;
    t.owner = values;
    return t;
}

// Splits the resolved padding for one axis ("same" as Keras and PyTorch compute it).
void resolve_window(bound_layer& l, std::size_t axis, std::uint64_t size) {
    const auto& s = *l.spec;
    const std::uint64_t k = l.kernel[axis];
    const std::uint64_t d = s.dilation[axis];
    const std::uint64_t extent = d * (k - 1) + 1;
    if (s.padding == layer_spec::padding_mode::same) {
        const std::uint64_t out = (size + l.stride[axis] - 1) / l.stride[axis];
        const std::uint64_t needed = (out - 1) * l.stride[axis] + extent;
        const std::uint64_t total = needed > size ? needed - size : 0;
        l.pad_begin[axis] = total / 2;
        l.pad_end[axis] = total - total / 2;
    } else if (s.padding == layer_spec::padding_mode::explicit_) {
        l.pad_begin[axis] = l.pad_end[axis] = s.pad[axis];
    }
}

class binder {
public:
    binder(const model_spec& spec, const weight_source& weights, bool strict)
        : spec_(spec), weights_(weights), strict_(strict) {
        for (const auto& n : weights.names()) {
            std::string key = n;
            if (!spec.strip_prefix.empty() && key.starts_with(spec.strip_prefix)) key = key.substr(spec.strip_prefix.size());
            names_.push_back(key);
            stored_[key] = n;
        }
        positional_ = weights.positional();
        sequential_ = weights.flat() != nullptr || positional_;
    }

    bound_model bind() {
        bound_model model;
        model.layout = spec_.layout;
        model.input = input_shape();
        activation_shape act = model.input;
        bool known = true;  // false once a problem leaves the activation shape unknown
        for (const auto& layer : spec_.layers) {
            bound_layer b;
            b.spec = &layer;
            b.in = act;
            known = known && infer(b);
            act = b.out;
            model.layers.push_back(std::move(b));
            if (!known) break;
        }
        if (known) check_unused();
        if (!problems_.empty()) throw error(fmt::format("{}", fmt::join(problems_, "\n")));
        model.warnings = warnings_;
        return model;
    }

private:
    activation_shape input_shape() const {
        const auto& s = spec_.input_shape;
        if (s.size() == 1) return {false, s[0], 1, 1};
        if (s.size() != 3) throw error(fmt::format("'input.shape' {} needs 1 (features) or 3 dimensions ({})",
                                                   format_shape(s), spec_.layout == weight_layout::torch ? "C, H, W" : "H, W, C"));
        return spec_.layout == weight_layout::torch ? activation_shape{true, s[0], s[1], s[2]}
                                                    : activation_shape{true, s[2], s[0], s[1]};
    }

    void problem(const bound_layer& b, const std::string& what) { problems_.push_back(b.spec->where() + ": " + what); }

    // Finds and loads the array for a role; records a problem and returns nothing when it cannot.
    std::optional<bound_tensor> fetch(const bound_layer& b, const std::string& role, const std::string& framework_role,
                                      std::size_t expected_elements) {
        const auto& s = *b.spec;
        std::string name;
        if (auto it = s.params.find(framework_role); it != s.params.end()) {
            name = it->second;
        } else if (auto it2 = s.params.find(role); it2 != s.params.end()) {
            name = it2->second;
        } else if (weights_.flat()) {
            return take_flat(b, framework_role, expected_elements);
        } else if (sequential_) {
            name = fmt::format("arr_{}", next_position_++);
        } else {
            std::vector<std::string> candidates;
            if (spec_.layout == weight_layout::torch) {
                candidates = {s.name + "." + framework_role};
            } else {
                candidates = {s.name + "/" + framework_role, s.name + "/" + framework_role + ":0"};
            }
            for (const auto& c : candidates) {
                if (stored_.contains(c)) {
                    name = c;
                    break;
                }
            }
            if (name.empty()) {
                problem(b, fmt::format("missing array '{}' in {}; closest names present: {}", candidates.front(),
                                       weights_.where(), closest(candidates.front(), names_)));
                return std::nullopt;
            }
        }
        const auto stored = stored_.find(name);
        if (stored == stored_.end()) {
            problem(b, fmt::format("missing array '{}' in {}; closest names present: {}", name, weights_.where(),
                                   closest(name, names_)));
            return std::nullopt;
        }
        used_.insert(name);
        try {
            auto t = to_float(weights_.load(stored->second), name);
            check_finite(b, t);
            return t;
        } catch (const error& e) {
            problem(b, e.what());
            return std::nullopt;
        }
    }

    std::optional<bound_tensor> take_flat(const bound_layer& b, const std::string& role, std::size_t n) {
        const npy_array& flat = *weights_.flat();
        if (n == 0) {
            problem(b, "a flat weight vector needs every size given in the spec (out_features, out_channels, "
                       "kernel_size)");
            return std::nullopt;
        }
        if (flat_offset_ + n > flat.rows()) {
            problem(b, fmt::format("the flat weight vector ends after {} values, but '{}' needs {} more",
                                   flat.rows(), role, flat_offset_ + n - flat.rows()));
            return std::nullopt;
        }
        if (!flat_values_) flat_values_ = to_float(flat, weights_.where());  // once, not per slice
        bound_tensor t{{n}, flat_values_->values.subspan(flat_offset_, n), flat_values_->owner,
                       fmt::format("{}[{}:{}]", weights_.where(), flat_offset_, flat_offset_ + n)};
        flat_offset_ += n;
        check_finite(b, t);
        return t;
    }

    void check_finite(const bound_layer& b, const bound_tensor& t) {
        const auto bad = std::find_if(t.values.begin(), t.values.end(), [](float v) { return !std::isfinite(v); });
        if (bad != t.values.end()) {
            problem(b, fmt::format("array '{}' holds {} at index {}", t.source, *bad, bad - t.values.begin()));
        }
    }

    bool check_shape(const bound_layer& b, const bound_tensor& t, const std::vector<std::uint64_t>& expected,
                     const std::string& meaning, const std::string& hint = "") {
        if (t.shape == expected || (t.shape.size() == 1 && weights_.flat())) return true;
        // A spec asking for absurd sizes (out_features 10^9) says so before anything is allocated.
        double bytes = sizeof(float);
        for (auto d : expected) bytes *= static_cast<double>(d);
        const std::string size = bytes >= 1e9 ? fmt::format(" ({:.3g} GB of float32)", bytes / 1e9) : "";
        problem(b, fmt::format("array '{}' has shape {}, expected {}{} {}{}", t.source, format_shape(t.shape),
                               format_shape(expected), size, meaning, hint.empty() ? "" : "; " + hint));
        return false;
    }

    // Keeps a checked weight (its shape as the layout has it; flat slices take it here) and
    // fetches and checks the bias, if the layer has one.
    void keep_weight_and_bias(bound_layer& b, bound_tensor weight, const std::vector<std::uint64_t>& shape,
                              std::uint64_t out) {
        weight.shape = shape;
        b.params["weight"] = std::move(weight);
        if (!b.spec->bias) return;
        if (auto bias = fetch(b, "bias", "bias", out); bias && check_shape(b, *bias, {out}, "(out,)")) {
            bias->shape = {out};
            b.params["bias"] = *bias;
        }
    }

    bool infer(bound_layer& b) {
        const auto& s = *b.spec;
        const bool torch = spec_.layout == weight_layout::torch;
        b.out = b.in;
        switch (s.kind) {
        case layer_kind::linear: return infer_linear(b, torch);
        case layer_kind::conv2d: return infer_conv(b, torch);
        case layer_kind::batchnorm: return infer_batchnorm(b, torch);
        case layer_kind::maxpool2d:
        case layer_kind::avgpool2d: return infer_pool(b);
        case layer_kind::global_avgpool2d:
            if (!b.in.spatial) return problem(b, "needs (C, H, W) input, got " + b.in.to_string()), false;
            b.kernel = {b.in.h, b.in.w};
            b.stride = b.kernel;
            b.out = {true, b.in.c, 1, 1};
            return true;
        case layer_kind::flatten: b.out = {false, b.in.features(), 1, 1}; return true;
        case layer_kind::softmax:
        case layer_kind::log_softmax:
            if (b.in.spatial && b.in.h * b.in.w != 1) {
                return problem(b, "works on features; put a flatten before it (input " + b.in.to_string() + ")"), false;
            }
            b.out = {false, b.in.c, 1, 1};
            return true;
        default: return true;  // elementwise: shape unchanged
        }
    }

    bool infer_linear(bound_layer& b, bool torch) {
        const auto& s = *b.spec;
        if (b.in.spatial && b.in.h * b.in.w != 1) {
            return problem(b, "needs flat input; put a flatten before it (input " + b.in.to_string() + ")"), false;
        }
        const std::uint64_t in = b.in.c;
        const auto r = roles(s.kind, spec_.layout, s.bias);
        auto weight = fetch(b, "weight", r[0].second, s.out_features ? in * *s.out_features : 0);
        if (!weight) {
            // With out_features given, later layers can still be checked.
            if (s.out_features) b.out = {false, *s.out_features, 1, 1};
            return s.out_features.has_value();
        }
        std::uint64_t out = s.out_features.value_or(0);
        if (weight->shape.size() == 2) {
            const std::uint64_t stored_out = torch ? weight->shape[0] : weight->shape[1];
            const std::uint64_t stored_in = torch ? weight->shape[1] : weight->shape[0];
            if (!s.out_features) out = stored_out;
            if (stored_in != in && (torch ? weight->shape[0] : weight->shape[1]) == in) {
                const auto expected = torch ? std::vector<std::uint64_t>{out, in} : std::vector<std::uint64_t>{in, out};
                check_shape(b, *weight, expected, torch ? "(out, in)" : "(in, out)",
                            torch ? "looks like Keras (in,out); set \"layout\": \"keras\""
                                  : "looks like PyTorch (out,in); set \"layout\": \"torch\"");
                return false;
            }
        } else if (weights_.flat()) {
            if (!s.out_features) return problem(b, "a flat weight vector needs 'out_features'"), false;
        }
        if (out == 0) return problem(b, "array '" + weight->source + "' must be 2-D"), false;
        const auto expected = torch ? std::vector<std::uint64_t>{out, in} : std::vector<std::uint64_t>{in, out};
        if (!check_shape(b, *weight, expected, torch ? "(out, in)" : "(in, out)")) return false;
        keep_weight_and_bias(b, *weight, expected, out);
        b.out = {false, out, 1, 1};
        return true;
    }

    bool infer_conv(bound_layer& b, bool torch) {
        const auto& s = *b.spec;
        if (!b.in.spatial) return problem(b, "needs (C, H, W) input, got " + b.in.to_string()), false;
        if (b.in.c % s.groups != 0) {
            return problem(b, fmt::format("{} input channels do not split into {} groups", b.in.c, s.groups)), false;
        }
        const std::uint64_t cg = b.in.c / s.groups;
        const auto r = roles(s.kind, spec_.layout, s.bias);
        std::uint64_t n_expected = 0;
        if (s.out_features && s.kernel_size) n_expected = *s.out_features * cg * (*s.kernel_size)[0] * (*s.kernel_size)[1];
        auto weight = fetch(b, "weight", r[0].second, n_expected);
        if (!weight) return false;
        std::uint64_t out = s.out_features.value_or(0);
        std::array<std::uint64_t, 2> k = s.kernel_size.value_or(std::array<std::uint64_t, 2>{0, 0});
        std::string hint;
        if (weight->shape.size() == 4) {
            const auto& w = weight->shape;
            if (!s.out_features) out = torch ? w[0] : w[3];
            if (!s.kernel_size) k = torch ? std::array<std::uint64_t, 2>{w[2], w[3]} : std::array<std::uint64_t, 2>{w[0], w[1]};
            // The same sizes in the other framework's order: (kH, kW, I/g, O) for torch, (O, I/g, kH, kW) for keras.
            const std::uint64_t alt_out = s.out_features.value_or(torch ? w[3] : w[0]);
            const auto alt_k = s.kernel_size.value_or(torch ? std::array<std::uint64_t, 2>{w[0], w[1]}
                                                            : std::array<std::uint64_t, 2>{w[2], w[3]});
            const auto alt = torch ? std::vector<std::uint64_t>{alt_k[0], alt_k[1], cg, alt_out}
                                   : std::vector<std::uint64_t>{alt_out, cg, alt_k[0], alt_k[1]};
            if (w == alt) {
                hint = torch ? "looks like Keras HWIO; set \"layout\": \"keras\""
                             : "looks like PyTorch OIHW; set \"layout\": \"torch\"";
            }
        }
        if (out == 0 || k[0] == 0) return problem(b, "array '" + weight->source + "' must be 4-D"), false;
        if (out % s.groups != 0) return problem(b, fmt::format("{} output channels do not split into {} groups", out, s.groups)), false;
        const auto expected = torch ? std::vector<std::uint64_t>{out, cg, k[0], k[1]} : std::vector<std::uint64_t>{k[0], k[1], cg, out};
        if (!check_shape(b, *weight, expected, torch ? "(O, I/groups, kH, kW)" : "(kH, kW, I/groups, O)", hint)) {
            return false;
        }
        keep_weight_and_bias(b, *weight, expected, out);
        b.kernel = k;
        b.stride = s.stride.value_or(std::array<std::uint64_t, 2>{1, 1});
        return window_output(b, out);
    }

    bool infer_pool(bound_layer& b) {
        const auto& s = *b.spec;
        if (!b.in.spatial) return problem(b, "needs (C, H, W) input, got " + b.in.to_string()), false;
        b.kernel = *s.kernel_size;
        b.stride = s.stride.value_or(b.kernel);
        return window_output(b, b.in.c);
    }

    // Output size of a sliding window (conv or pooling), floor mode as PyTorch's default.
    bool window_output(bound_layer& b, std::uint64_t channels) {
        std::array<std::uint64_t, 2> size{b.in.h, b.in.w}, out{};
        for (std::size_t a = 0; a < 2; ++a) {
            resolve_window(b, a, size[a]);
            const std::uint64_t extent = b.spec->dilation[a] * (b.kernel[a] - 1) + 1;
            const std::uint64_t padded = size[a] + b.pad_begin[a] + b.pad_end[a];
            if (padded < extent) {
                return problem(b, fmt::format("window {} does not fit input {}", format_shape({b.kernel[0], b.kernel[1]}),
                                              b.in.to_string())), false;
            }
            out[a] = (padded - extent) / b.stride[a] + 1;
            // oneDNN wants the padding after that makes the last window end exactly at the edge.
            b.pad_end[a] = (out[a] - 1) * b.stride[a] + extent > size[a] + b.pad_begin[a]
                               ? (out[a] - 1) * b.stride[a] + extent - size[a] - b.pad_begin[a] : 0;
        }
        b.out = {true, channels, out[0], out[1]};
        return fits_in_memory(b);
    }

    // A layer output that could not be held even for one row (its size overflows, or passes
    // 2^40 values) is refused here, before the memory guard multiplies it out.
    bool fits_in_memory(const bound_layer& b) {
        std::uint64_t values = 0;
        if (__builtin_mul_overflow(b.out.c, b.out.h, &values) || __builtin_mul_overflow(values, b.out.w, &values) ||
            values > (std::uint64_t{1} << 40)) {
            return problem(b, fmt::format("its output, {} a row, is too large to hold in memory", b.out.to_string())),
                   false;
        }
        return true;
    }

    bool infer_batchnorm(bound_layer& b, bool torch) {
        const auto& s = *b.spec;
        const std::uint64_t c = b.in.c;
        b.eps = s.eps.value_or(torch ? 1e-5 : 1e-3);
        for (const auto& [role, framework_role] : roles(s.kind, spec_.layout, true)) {
            auto t = fetch(b, role, framework_role, c);
            if (!t || !check_shape(b, *t, {c}, "(channels,)")) continue;
            t->shape = {c};
            if (role == "var") {
                const auto neg = std::find_if(t->values.begin(), t->values.end(), [](float v) { return v < 0; });
                if (neg != t->values.end()) {
                    problem(b, fmt::format("array '{}' holds a negative variance {} at index {}", t->source, *neg,
                                           neg - t->values.begin()));
                }
            }
            b.params[role] = *t;
        }
        // A positionally saved state_dict follows running_var with num_batches_tracked.
        if (positional_ && torch && next_position_ < names_.size()) {
            const auto name = fmt::format("arr_{}", next_position_);
            if (const auto a = weights_.load(stored_.at(name)); a.header().shape.empty() && !is_floating(a.header().type)) {
                used_.insert(name);
                ++next_position_;
            }
        }
        return true;
    }

    void check_unused() {
        if (weights_.flat()) {
            if (flat_offset_ != weights_.flat()->rows()) {
                problems_.push_back(fmt::format("{}: the flat weight vector has {} values, the layers use {}",
                                                weights_.where(), weights_.flat()->rows(), flat_offset_));
            }
            return;
        }
        for (const auto& n : names_) {
            // state_dicts carry batchnorm's step counter, which inference does not use
            if (used_.contains(n) || n.ends_with("num_batches_tracked")) continue;
            const auto message = fmt::format("unused array '{}' in {}", n, weights_.where());
            (strict_ ? problems_ : warnings_).push_back(strict_ ? message + " (--strict)" : message);
        }
    }

    const model_spec& spec_;
    const weight_source& weights_;
    bool strict_;
    bool positional_ = false;  // arr_0, arr_1, ...
    bool sequential_ = false;  // bound by position or offset rather than by name
    std::optional<bound_tensor> flat_values_;  // the flat vector as float32
    std::size_t next_position_ = 0;
    std::uint64_t flat_offset_ = 0;
    std::vector<std::string> names_;              // after strip_prefix
    std::map<std::string, std::string> stored_;   // name after strip_prefix -> stored name
    std::set<std::string> used_;
    std::vector<std::string> problems_, warnings_;
};

}  // namespace

std::string activation_shape::to_string() const {
    return spatial ? fmt::format("(C={}, H={}, W={})", c, h, w) : fmt::format("({} features)", c);
}

bound_model bind_parameters(const model_spec& spec, const weight_source& weights, bool strict) {
    return binder(spec, weights, strict).bind();
}

}  // namespace npyflow
