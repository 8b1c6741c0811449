#include "npyflow/nn/param_binding.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <optional>
#include <set>

#include <fmt/format.h>

#include "npyflow/io/byteswap.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/float16.hpp"
#include "npyflow/nn/layer_descriptor.hpp"
#include "npyflow/nn/param_transform.hpp"

namespace npyflow {
namespace {

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

// Binds one layer at a time; the descriptor of its kind asks for arrays through this.
class binder final : public binding_context {
public:
    binder(const model_spec& spec, const weight_source& weights, bool strict)
        : spec_(spec), weights_(weights), strict_(strict) {
        for (const auto& n : weights.names()) {
            std::string key = n;
            if (!spec.strip_prefix.empty() && key.starts_with(spec.strip_prefix)) key = key.substr(spec.strip_prefix.size());
            if (const auto [it, added] = stored_.emplace(key, n); !added) {
                problems_.push_back(fmt::format("{}: '{}' and '{}' are both '{}' once \"strip_prefix\" \"{}\" is "
                                                "removed; which one is meant cannot be told",
                                                weights.where(), it->second, n, key, spec.strip_prefix));
                continue;
            }
            names_.push_back(key);
        }
        positional_ = weights.positional();
        sequential_ = weights.flat() != nullptr || positional_;
    }

    bound_model bind() {
        bound_model model;
        model.layout = spec_.layout;
        model.input = spec_.input_shape;
        for (const auto& layer : spec_.layers) {
            bound_layer b;
            b.spec = layer;
            b.layout = layer.layout.value_or(spec_.layout);
            b.inputs = layer.sources;
            for (const int s : layer.sources) b.in.push_back(s < 0 ? model.input : model.layers[std::size_t(s)].out);
            current_ = &b;
            asked_.clear();
            const std::size_t problems_before = problems_.size();
            const bool known = descriptor(layer.kind).bind(*this, b);
            if (known && problems_.size() == problems_before) check_param_roles(b);
            model.layers.push_back(std::move(b));
            if (!known) break;  // its output's shape is unknown: later layers cannot be checked
        }
        current_ = nullptr;
        if (ran_out_) {
            problems_.push_back(fmt::format("{}: the layers take at least {} arrays by position, {} were saved",
                                            weights_.where(), next_position_, names_.size()));
        }
        if (model.layers.size() == spec_.layers.size()) check_unused();
        if (!problems_.empty()) throw error(fmt::format("{}", fmt::join(problems_, "\n")));
        model.warnings = warnings_;
        return model;
    }

    weight_layout layout() const override { return spec_.layout; }
    weight_layout weights_layout() const override { return current_->layout; }
    bool layout_unknown() const override { return sequential_ && !spec_.layout_stated && !current_->spec.layout; }
    bool flat_weights() const override { return weights_.flat() != nullptr; }

    bool problem(const std::string& what) override {
        problems_.push_back(current_->spec.where() + ": " + what);
        return false;
    }

    std::string source_name(int layer_index) const override {
        return layer_index < 0 ? "the model's input" : spec_.layers.at(std::size_t(layer_index)).where();
    }

    // Finds and loads the array for a role; records a problem and returns nothing when it cannot.
    std::optional<bound_tensor> fetch(const std::string& role, const std::string& framework_role,
                                      std::uint64_t flat_values) override {
        const auto& s = current_->spec;
        asked_.push_back(framework_role);
        if (role != framework_role) asked_.push_back(role);
        const param_ref* ref = nullptr;
        if (auto it = s.params.find(framework_role); it != s.params.end()) {
            ref = &it->second;
        } else if (auto it2 = s.params.find(role); it2 != s.params.end()) {
            ref = &it2->second;
        }
        std::string name;
        if (ref) {
            name = ref->array;
        } else if (weights_.flat()) {
            return take_flat(framework_role, flat_values);
        } else if (sequential_) {
            // Arrays a "params" entry took already are not taken again by position.
            while (next_position_ < names_.size() && used_.contains(fmt::format("arr_{}", next_position_))) ++next_position_;
            if (next_position_ >= names_.size()) return past_last_position(framework_role);
            name = fmt::format("arr_{}", next_position_++);
        } else if (s.name.empty() && bare_name(framework_role).empty()) {
            problem(fmt::format("needs a 'name', the prefix of its arrays in {} (or 'params' naming its '{}')",
                                weights_.where(), framework_role));
            return std::nullopt;
        } else if (s.name.empty()) {
            name = bare_name(framework_role);  // a bare module's state_dict: "weight", "bias"
            if (used_.contains(name)) {  // one module's arrays: a second unnamed layer would take them again
                problem(fmt::format("array '{}' is bound by an earlier unnamed layer already; give the layers the "
                                    "names of their arrays' prefixes",
                                    name));
                return std::nullopt;
            }
        } else {
            std::vector<std::string> candidates;
            if (current_->layout == weight_layout::torch) {
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
            if (name.empty() && current_->layout == weight_layout::keras) name = in_cell_scope(s.name, framework_role);
            if (name.empty()) {
                problem(fmt::format("missing array '{}' in {}; closest names present: {}{}", candidates.front(),
                                    weights_.where(), closest(candidates.front(), names_),
                                    missing_hint(role, candidates.front())));
                return std::nullopt;
            }
        }
        const auto stored = stored_.find(name);
        if (stored == stored_.end()) {
            problem(fmt::format("missing array '{}' in {}; closest names present: {}", name, weights_.where(),
                                closest(name, names_)));
            return std::nullopt;
        }
        used_.insert(name);
        try {
            const npy_array a = weights_.load(stored->second);
            auto t = to_float(a, name);
            if (ref && ref->transforms()) t = apply_param_ref(t, *ref);
            current_->reads.push_back({role, t.source, t.shape, std::string(npyflow::name(a.header().type))});
            check_finite(t);
            return t;
        } catch (const error& e) {
            problem(e.what());
            return std::nullopt;
        }
    }

    bool check_shape(const bound_tensor& t, const std::vector<std::uint64_t>& expected, const std::string& meaning,
                     const std::string& hint) override {
        if (t.shape == expected || (t.shape.size() == 1 && weights_.flat())) return true;
        // A spec asking for absurd sizes (out_features 10^9) says so before anything is allocated.
        double bytes = sizeof(float);
        for (auto d : expected) bytes *= static_cast<double>(d);
        const std::string size = bytes >= 1e9 ? fmt::format(" ({:.3g} GB of float32)", bytes / 1e9) : "";
        problem(fmt::format("array '{}' has shape {}, expected {}{} {}{}", t.source, format_shape(t.shape),
                            format_shape(expected), size, meaning, hint.empty() ? "" : "; " + hint));
        return false;
    }

    void skip_step_counter() override {
        if (!positional_ || current_->layout != weight_layout::torch || next_position_ >= names_.size()) return;
        const auto name = fmt::format("arr_{}", next_position_);
        if (const auto a = weights_.load(stored_.at(name)); a.header().shape.empty() && !is_floating(a.header().type)) {
            used_.insert(name);
            ++next_position_;
        }
    }

private:
    // What a missing named array most likely means, for the message's end.
    std::string missing_hint(const std::string& role, const std::string& wanted) const {
        if (role == "mean" || role == "var") {
            return "; saved with model.parameters() rather than state_dict()? A batchnorm's running statistics are "
                   "buffers, which only state_dict() holds";
        }
        if (role == "bias") return "; if the layer has no bias, set \"bias\": false";
        // "module.0.weight" for "0.weight": a wrapper's prefix (DataParallel, a checkpoint's submodule).
        for (const auto& n : names_) {
            if (n.size() > wanted.size() && n.ends_with(wanted)) {
                const std::string prefix = n.substr(0, n.size() - wanted.size());
                if (prefix.back() == '.' || prefix.back() == '/') {
                    return fmt::format("; the names start with '{}': set \"strip_prefix\": \"{}{}\"", prefix,
                                       spec_.strip_prefix, prefix);
                }
            }
        }
        return "";
    }

    // An unnamed layer's array where the weights are one module's, saved without a prefix.
    std::string bare_name(const std::string& role) const {
        for (const auto& c : {role, role + ":0"}) {
            if (stored_.contains(c)) return c;
        }
        return "";
    }

    // Keras 2 saves a recurrent layer's arrays in its cell's scope: "lstm/lstm_cell/kernel:0".
    // The one name of that form, or none.
    std::string in_cell_scope(const std::string& layer, const std::string& role) const {
        // A role with a scope ("forward/kernel", a Bidirectional layer's direction) is found
        // below a scope that starts with it ("forward_lstm"), in a cell scope or not.
        const auto slash = role.find('/');
        const std::string scope = slash == std::string::npos ? "" : role.substr(0, slash);
        const std::string leaf = slash == std::string::npos ? role : role.substr(slash + 1);
        std::string found;
        for (const auto& n : names_) {
            if (!n.starts_with(layer + "/")) continue;
            std::string rest = n.substr(layer.size() + 1);
            if (rest.ends_with(":0")) rest.resize(rest.size() - 2);
            std::vector<std::string> parts;
            for (std::size_t at = 0, cut; at <= rest.size(); at = cut + 1) {
                cut = std::min(rest.find('/', at), rest.size());
                parts.push_back(rest.substr(at, cut - at));
            }
            if (parts.back() != leaf) continue;
            const bool fits = scope.empty() ? parts.size() == 2
                                            : (parts.size() == 2 || parts.size() == 3) &&
                                                  (parts[0] == scope || parts[0].starts_with(scope + "_"));
            if (!fits) continue;
            if (!found.empty()) return "";
            found = n;
        }
        return found;
    }

    // A positional archive that runs out: says how many arrays it has and how many the
    // layers take, counted on (without loading) through the remaining layers' fetches.
    std::optional<bound_tensor> past_last_position(const std::string& role) {
        if (!ran_out_) {
            ran_out_ = true;
            problem(fmt::format("its '{}' would be arr_{}, but {} holds {} positional arrays (arr_0 to arr_{}): the "
                                "spec's layers take more arrays than were saved",
                                role, next_position_, weights_.where(), names_.size(), names_.size() - 1));
        }
        ++next_position_;
        return std::nullopt;
    }

    // A "params" role the layer never asked for would name an array that is then not used.
    void check_param_roles(const bound_layer& b) {
        for (const auto& [role, array] : b.spec.params) {
            if (std::find(asked_.begin(), asked_.end(), role) == asked_.end()) {
                problem(asked_.empty() ? fmt::format("'params.{}': this layer takes no arrays", role)
                                       : fmt::format("'params.{}' is not one of this layer's arrays (it takes: {})", role,
                                                     fmt::join(asked_, ", ")));
            }
        }
    }

    std::optional<bound_tensor> take_flat(const std::string& role, std::uint64_t n) {
        const npy_array& flat = *weights_.flat();
        if (n == 0) {
            problem("a flat weight vector needs every size given in the spec (out_features, out_channels, "
                    "kernel_size, num_embeddings and embedding_dim, dim_feedforward)");
            return std::nullopt;
        }
        if (n > flat.rows() - flat_offset_) {  // flat_offset_ <= rows always; n may be a saturated size
            problem(n == std::numeric_limits<std::uint64_t>::max()
                        ? fmt::format("'{}' would need more values than a flat weight vector can hold; check the "
                                      "sizes in the spec",
                                      role)
                        : fmt::format("the flat weight vector ends after {} values, but '{}' needs {} more",
                                      flat.rows(), role, n - (flat.rows() - flat_offset_)));
            return std::nullopt;
        }
        if (!flat_values_) flat_values_ = to_float(flat, weights_.where());  // once, not per slice
        bound_tensor t{{n}, flat_values_->values.subspan(flat_offset_, n), flat_values_->owner,
                       fmt::format("{}[{}:{}]", weights_.where(), flat_offset_, flat_offset_ + n)};
        flat_offset_ += n;
        current_->reads.push_back({role, t.source, t.shape, std::string(npyflow::name(weights_.flat()->header().type))});
        check_finite(t);
        return t;
    }

    void check_finite(const bound_tensor& t) {
        const auto bad = std::find_if(t.values.begin(), t.values.end(), [](float v) { return !std::isfinite(v); });
        if (bad != t.values.end()) {
            problem(fmt::format("array '{}' holds {} at index {}", t.source, *bad, bad - t.values.begin()));
        }
    }

    void check_unused() {
        if (weights_.flat()) {
            if (flat_offset_ != weights_.flat()->rows()) {
                problems_.push_back(fmt::format("{}: the flat weight vector has {} values, the layers use {}",
                                                weights_.where(), weights_.flat()->rows(), flat_offset_));
            }
            return;
        }
        if (positional_) {
            std::vector<std::string> unused;
            for (const auto& n : names_) {
                if (!used_.contains(n)) unused.push_back(n);
            }
            if (unused.empty()) return;
            const auto message = fmt::format("{}: the layers take {} of its {} positional arrays ({} unused{}: is a "
                                             "layer missing from the spec?)",
                                             weights_.where(), names_.size() - unused.size(), names_.size(),
                                             unused.size() == 1 ? unused[0] : unused.front() + " to " + unused.back(),
                                             unused.size() > 2 ? fmt::format(", {} arrays", unused.size()) : "");
            (strict_ ? problems_ : warnings_).push_back(strict_ ? message + " (--strict)" : message);
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
    bound_layer* current_ = nullptr;  // the layer being bound, for problem()
    std::vector<std::string> asked_;  // the roles it has fetched, in both frameworks' names
    bool positional_ = false;  // arr_0, arr_1, ...
    bool sequential_ = false;  // bound by position or offset rather than by name
    std::optional<bound_tensor> flat_values_;  // the flat vector as float32
    std::size_t next_position_ = 0;
    bool ran_out_ = false;  // a positional archive had fewer arrays than the layers ask for
    std::uint64_t flat_offset_ = 0;
    std::vector<std::string> names_;              // after strip_prefix
    std::map<std::string, std::string> stored_;   // name after strip_prefix -> stored name
    std::set<std::string> used_;
    std::vector<std::string> problems_, warnings_;
};

}  // namespace

bound_tensor make_tensor(std::vector<std::uint64_t> shape, std::vector<float> values, std::string source) {
    auto owned = std::make_shared<std::vector<float>>(std::move(values));
    return {std::move(shape), *owned, owned, std::move(source)};
}

bound_model bind_parameters(const model_spec& spec, const weight_source& weights, bool strict) {
    return binder(spec, weights, strict).bind();
}

}  // namespace npyflow
