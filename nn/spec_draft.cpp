#include "npyflow/nn/spec_draft.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <optional>
#include <regex>
#include <set>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {
namespace {

using json = nlohmann::json;
using shape_t = std::vector<std::uint64_t>;
using named_shapes = std::vector<std::pair<std::string, shape_t>>;

enum class naming { torch, keras, positional };

// One layer with arrays, as the weights show it.
struct weighted_layer {
    json layer;                      // the spec's layer
    std::string kind;                // its npyflow type
    std::uint64_t in = 0, out = 0;   // features or channels read and given; 0 where unknown
    std::vector<std::string> notes;  // about this layer, without its place (added later)
};

std::string lower(std::string s) {
    std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return s;
}

std::string kernel_text(const shape_t& k) {
    return fmt::format("{}", fmt::join(k, "x"));
}

// Conv sizes the weights give, and the note on what they do not.
weighted_layer conv(const std::string& name, bool torch, const shape_t& w, bool bias) {
    const std::size_t rank = w.size() - 2;
    const shape_t k = torch ? shape_t(w.begin() + 2, w.end()) : shape_t(w.begin(), w.begin() + static_cast<long>(rank));
    const std::uint64_t out = torch ? w[0] : w.back(), in = torch ? w[1] : w[rank];
    weighted_layer l{{{"type", rank == 1 ? "conv1d" : "conv2d"},
                      {"name", name},
                      {"out_channels", out},
                      {"kernel_size", k},
                      {"stride", 1},
                      {"padding", 0},
                      {"bias", bias}},
                     rank == 1 ? "conv1d" : "conv2d",
                     in,
                     out,
                     {}};
    l.notes.push_back(
        fmt::format("conv{}d kernel {}: stride and padding are not in the weights; stated as 1 and 0, "
                    "check them (and groups: 1 assumed, {} input channels)",
                    rank, kernel_text(k), in));
    return l;
}

weighted_layer recurrent(const std::string& name, std::uint64_t gates_times_h, std::uint64_t h, std::uint64_t in,
                         std::uint64_t layers, bool bidirectional, bool bias, std::vector<std::string>& trouble) {
    const std::uint64_t gates = h ? gates_times_h / h : 0;
    if (gates != 3 && gates != 4) {
        trouble.push_back(
            fmt::format("'{}': recurrent weights with {} rows for hidden size {} are neither an lstm's "
                        "4H nor a gru's 3H; left out",
                        name, gates_times_h, h));
        return {};
    }
    const char* kind = gates == 4 ? "lstm" : "gru";
    weighted_layer l{{{"type", kind}, {"name", name}, {"hidden_size", h}, {"bias", bias}},
                     kind,
                     in,
                     h * (bidirectional ? 2 : 1),
                     {}};
    if (layers > 1) l.layer["num_layers"] = layers;
    if (bidirectional) l.layer["bidirectional"] = true;
    l.notes.push_back(fmt::format("{} ({} gates of {}): return_sequences is not in the weights", kind, gates, h));
    return l;
}

// --- PyTorch state_dict names --------------------------------------------------------------

struct torch_group {
    std::string prefix;
    std::map<std::string, shape_t> roles;
};

std::vector<torch_group> torch_groups(const named_shapes& arrays, const std::string& strip) {
    std::vector<torch_group> groups;
    for (const auto& [full, shape] : arrays) {
        const std::string name = full.substr(strip.size());
        const auto dot = name.rfind('.');
        const std::string prefix = dot == std::string::npos ? "" : name.substr(0, dot);
        const std::string role = name.substr(dot == std::string::npos ? 0 : dot + 1);
        if (groups.empty() || groups.back().prefix != prefix) groups.push_back({prefix, {}});
        groups.back().roles[role] = shape;
    }
    return groups;
}

std::vector<weighted_layer> from_torch(const std::vector<torch_group>& groups, std::vector<std::string>& trouble) {
    std::vector<weighted_layer> layers;
    for (std::size_t g = 0; g < groups.size(); ++g) {
        // Not a structured binding: clang 14 cannot capture one in the lambdas below.
        const auto& name = groups[g].prefix;
        const auto& roles = groups[g].roles;
        auto has = [&](const char* role) { return roles.contains(role); };
        auto shape = [&](const char* role) { return roles.at(role); };
        if (has("weight_hr_l0")) {
            trouble.push_back(fmt::format("'{}': an LSTM with proj_size (weight_hr_l0), which npyflow does not have; "
                                          "left out",
                                          name));
        } else if (has("weight_ih_l0") && has("weight_hh_l0") &&
            (shape("weight_ih_l0").size() != 2 || shape("weight_hh_l0").size() != 2)) {
            trouble.push_back(fmt::format("'{}': weight_ih_l0 and weight_hh_l0 must be 2-D, got {} and {}; left out",
                                          name, format_shape(shape("weight_ih_l0")), format_shape(shape("weight_hh_l0"))));
        } else if (has("weight_ih_l0") && has("weight_hh_l0")) {
            std::uint64_t n = 0;
            while (has(fmt::format("weight_ih_l{}", n).c_str()))
                ++n;
            layers.push_back(recurrent(name, shape("weight_ih_l0")[0], shape("weight_hh_l0")[1],
                                       shape("weight_ih_l0")[1], n, has("weight_ih_l0_reverse"), has("bias_ih_l0"),
                                       trouble));
            if (layers.back().kind.empty()) layers.pop_back();
        } else if (has("running_mean") && has("running_var")) {
            const std::uint64_t c = shape("running_mean").empty() ? 0 : shape("running_mean")[0];
            layers.push_back({{{"type", "batchnorm"}, {"name", name}},
                              "batchnorm",
                              c,
                              c,
                              {"batchnorm: eps is not in the weights; PyTorch's default 1e-5 assumed"}});
        } else if (has("weight") && (shape("weight").size() == 3 || shape("weight").size() == 4)) {
            layers.push_back(conv(name, true, shape("weight"), has("bias")));
        } else if (has("weight") && shape("weight").size() == 2) {
            const auto& w = shape("weight");
            const bool named_embedding = lower(name).find("emb") != std::string::npos;
            const bool before_recurrent = g + 1 < groups.size() && groups[g + 1].roles.contains("weight_ih_l0") &&
                                          groups[g + 1].roles.at("weight_ih_l0").size() == 2 &&
                                          groups[g + 1].roles.at("weight_ih_l0")[1] == w[1];
            if (!has("bias") && (named_embedding || (layers.empty() && before_recurrent))) {
                layers.push_back(
                    {{{"type", "embedding"}, {"name", name}, {"num_embeddings", w[0]}, {"embedding_dim", w[1]}},
                     "embedding",
                     0,
                     w[1],
                     {fmt::format("embedding {} x {}: a guess (a 2-D weight without bias {}); a linear "
                                  "without bias has the same arrays",
                                  w[0], w[1], named_embedding ? "named so" : "before a recurrent layer")}});
            } else {
                layers.push_back({{{"type", "linear"}, {"name", name}, {"out_features", w[0]}, {"bias", has("bias")}},
                                  "linear",
                                  w[1],
                                  w[0],
                                  {}});
            }
        } else if (has("weight") && has("bias") && shape("weight").size() == 1 && roles.size() == 2) {
            const std::uint64_t f = shape("weight")[0];
            layers.push_back({{{"type", "layernorm"}, {"name", name}},
                              "layernorm",
                              f,
                              f,
                              {fmt::format("layernorm over the last {} features: a guess (a 1-D weight and bias "
                                           "without running statistics)",
                                           f)}});
        } else {
            std::vector<std::string> names;
            for (const auto& [role, s] : roles)
                names.push_back(fmt::format("{}.{} {}", name, role, format_shape(s)));
            trouble.push_back(fmt::format("arrays not recognised, left out: {}", fmt::join(names, ", ")));
        }
    }
    return layers;
}

// --- Keras names ---------------------------------------------------------------------------

// A Bidirectional layer's direction scope: "bi/forward_lstm" or "bi/forward_lstm/lstm_cell"
// gives ("bi", "forward", "lstm"); anything else, nothing.
struct direction_scope {
    std::string layer, direction, wrapped;
};
std::optional<direction_scope> bidirectional_scope(const std::string& group) {
    std::vector<std::string> parts;
    for (std::size_t at = 0, cut; at <= group.size(); at = cut + 1) {
        cut = std::min(group.find('/', at), group.size());
        parts.push_back(group.substr(at, cut - at));
    }
    if (parts.size() < 2) return std::nullopt;
    // The scope is the last part, or the one before a cell's scope.
    const std::size_t at = parts.size() >= 3 && parts.back().ends_with("_cell") ? parts.size() - 2 : parts.size() - 1;
    for (const char* direction : {"forward", "backward"}) {
        const std::string prefix = std::string(direction) + "_";
        if (!parts[at].starts_with(prefix)) continue;
        std::string layer = parts[0];
        for (std::size_t k = 1; k < at; ++k) layer += "/" + parts[k];
        return direction_scope{layer, direction, parts[at].substr(prefix.size())};
    }
    return std::nullopt;
}

std::vector<weighted_layer> from_keras(const named_shapes& arrays, std::vector<std::string>& trouble) {
    // Groups by the name before the last "/", TF's ":0" dropped, in their first array's order.
    std::vector<std::pair<std::string, std::map<std::string, shape_t>>> groups;
    for (const auto& [full, shape] : arrays) {
        std::string name = full.ends_with(":0") ? full.substr(0, full.size() - 2) : full;
        const auto slash = name.rfind('/');
        const std::string prefix = slash == std::string::npos ? "" : name.substr(0, slash);
        auto it = std::find_if(groups.begin(), groups.end(), [&](const auto& g) { return g.first == prefix; });
        if (it == groups.end()) it = groups.insert(groups.end(), {prefix, {}});
        it->second[name.substr(slash == std::string::npos ? 0 : slash + 1)] = shape;
    }
    std::vector<weighted_layer> layers;
    for (const auto& group : groups) {
        const auto& name = group.first;
        const auto& roles = group.second;  // not a structured binding: clang 14 cannot capture one
        auto has = [&](const char* role) { return roles.contains(role); };
        auto shape = [&](const char* role) { return roles.at(role); };
        if (has("kernel") && has("recurrent_kernel") &&
            (shape("kernel").size() != 2 || shape("recurrent_kernel").size() != 2)) {
            trouble.push_back(fmt::format("'{}': kernel and recurrent_kernel must be 2-D, got {} and {}; left out", name,
                                          format_shape(shape("kernel")), format_shape(shape("recurrent_kernel"))));
        } else if (has("kernel") && has("recurrent_kernel")) {
            const auto &k = shape("kernel"), &rk = shape("recurrent_kernel");
            // A Bidirectional layer: its forward scope makes one layer named as the wrapper,
            // with the backward scope of the same shapes; two stacked layers would compute
            // another model.
            const auto scope = bidirectional_scope(name);
            std::string layer_name = name;
            if (scope) {
                const char* other_way = scope->direction == "forward" ? "backward" : "forward";
                const bool paired = std::any_of(groups.begin(), groups.end(), [&](const auto& g) {
                    const auto other = bidirectional_scope(g.first);
                    return other && other->layer == scope->layer && other->direction == other_way &&
                           other->wrapped == scope->wrapped && g.second == roles;
                });
                if (!paired) {
                    trouble.push_back(fmt::format("'{}': a Bidirectional layer's {} direction without its {} one of "
                                                  "the same shapes; left out",
                                                  name, scope->direction, other_way));
                    continue;
                }
                if (scope->direction == "backward") continue;  // drafted with its forward direction
                layer_name = scope->layer;
            }
            weighted_layer l = recurrent(layer_name, k.back(), rk[0], k[0], 1, scope.has_value(), has("bias"), trouble);
            if (l.kind.empty()) continue;
            if (l.kind == "gru") {
                const bool two_rows = has("bias") && shape("bias").size() == 2;
                l.layer["reset_after"] = two_rows || !has("bias");
                if (!has("bias")) l.notes.push_back("gru without bias: reset_after true (Keras 2's default) assumed");
            }
            layers.push_back(std::move(l));
        } else if (has("kernel") && (shape("kernel").size() == 3 || shape("kernel").size() == 4)) {
            layers.push_back(conv(name, false, shape("kernel"), has("bias")));
        } else if (has("kernel") && shape("kernel").size() == 2) {
            const auto& k = shape("kernel");
            layers.push_back({{{"type", "dense"}, {"name", name}, {"units", k[1]}, {"use_bias", has("bias")}},
                              "linear",
                              k[0],
                              k[1],
                              {}});
        } else if (has("moving_mean") && has("moving_variance") && has("gamma") && has("beta")) {
            const std::uint64_t c = shape("moving_mean").empty() ? 0 : shape("moving_mean")[0];
            layers.push_back({{{"type", "batch_normalization"}, {"name", name}},
                              "batchnorm",
                              c,
                              c,
                              {"batch_normalization: epsilon is not in the weights; Keras's default 1e-3 assumed"}});
        } else if (has("gamma") && has("beta") && roles.size() == 2) {
            const std::uint64_t f = shape("gamma").empty() ? 0 : shape("gamma")[0];
            layers.push_back({{{"type", "layer_normalization"}, {"name", name}},
                              "layernorm",
                              f,
                              f,
                              {"layer_normalization: a guess (gamma and beta without moving statistics); epsilon "
                               "1e-3, Keras's default, assumed"}});
        } else if (has("embeddings") && shape("embeddings").size() == 2) {
            const auto& e = shape("embeddings");
            layers.push_back({{{"type", "embedding"}, {"name", name}, {"input_dim", e[0]}, {"output_dim", e[1]}},
                              "embedding",
                              0,
                              e[1],
                              {}});
        } else {
            std::vector<std::string> names;
            for (const auto& [role, s] : roles)
                names.push_back(fmt::format("{}/{} {}", name, role, format_shape(s)));
            trouble.push_back(fmt::format("arrays not recognised, left out: {}", fmt::join(names, ", ")));
        }
    }
    return layers;
}

// --- positional arrays (arr_0, arr_1, ...): shapes only -------------------------------------

std::vector<weighted_layer> from_positions(const named_shapes& a, bool torch, std::vector<std::string>& trouble) {
    std::vector<weighted_layer> layers;
    auto is_1d = [&](std::size_t i, std::uint64_t n) { return i < a.size() && a[i].second == shape_t{n}; };
    for (std::size_t i = 0; i < a.size();) {
        const std::string name = a[i].first;
        const shape_t& s = a[i].second;
        if (s.empty()) {  // a batchnorm's step counter out of its place
            ++i;
            continue;
        }
        if (s.size() == 2 && i + 1 < a.size() && a[i + 1].second.size() == 2) {
            const shape_t& r = a[i + 1].second;
            // torch: weight_ih (G*H, in), weight_hh (G*H, H); keras: kernel (in, G*H), recurrent (H, G*H)
            const std::uint64_t gh = torch ? s[0] : s[1], h = torch ? r[1] : r[0];
            if ((torch ? r[0] : r[1]) == gh && h && (gh == 3 * h || gh == 4 * h)) {
                std::size_t used = 2;
                bool bias = false;
                if (torch && is_1d(i + 2, gh) && is_1d(i + 3, gh)) used = 4, bias = true;
                if (!torch && i + 2 < a.size() &&
                    (a[i + 2].second == shape_t{gh} || a[i + 2].second == shape_t{2, gh})) {
                    used = 3, bias = true;
                }
                weighted_layer l = recurrent(name, gh, h, torch ? s[1] : s[0], 1, false, bias, trouble);
                if (!torch && l.kind == "gru") l.layer["reset_after"] = !bias || a[i + 2].second.size() == 2;
                layers.push_back(std::move(l));
                i += used;
                continue;
            }
        }
        if (s.size() == 3 || s.size() == 4) {
            const std::uint64_t out = torch ? s[0] : s.back();
            const bool bias = is_1d(i + 1, out);
            layers.push_back(conv(name, torch, s, bias));
            i += bias ? 2 : 1;
        } else if (s.size() == 2) {
            const std::uint64_t out = torch ? s[0] : s[1], in = torch ? s[1] : s[0];
            const bool bias = is_1d(i + 1, out);
            layers.push_back(
                {{{"type", "linear"}, {"name", name}, {"out_features", out}, {"bias", bias}}, "linear", in, out, {}});
            if (!bias)
                layers.back().notes.push_back("linear without bias: an embedding table has the same array; check");
            i += bias ? 2 : 1;
        } else if (s.size() == 1 && is_1d(i + 1, s[0]) && is_1d(i + 2, s[0]) && is_1d(i + 3, s[0])) {
            layers.push_back({{{"type", "batchnorm"}, {"name", name}},
                              "batchnorm",
                              s[0],
                              s[0],
                              {fmt::format("batchnorm: four arrays of {} taken as its weight, bias, mean and variance "
                                           "(a guess from their shapes); eps {} assumed",
                                           s[0], torch ? "1e-5" : "1e-3")}});
            i += 4;
        } else if (s.size() == 1 && is_1d(i + 1, s[0])) {
            layers.push_back({{{"type", "layernorm"}, {"name", name}},
                              "layernorm",
                              s[0],
                              s[0],
                              {"layernorm: two arrays of one size taken as its weight and bias (a guess from their "
                               "shapes)"}});
            i += 2;
        } else {
            trouble.push_back(fmt::format("array '{}' {} not recognised by its shape; the draft stops before it", name,
                                          format_shape(s)));
            break;
        }
    }
    return layers;
}

// --- putting the layers together -----------------------------------------------------------

bool spatial(const std::string& kind) {
    return kind == "conv1d" || kind == "conv2d";
}
bool recurrent_kind(const std::string& kind) {
    return kind == "lstm" || kind == "gru";
}

// The input a first layer reads, its unknown sizes as placeholders.
json input_of(const weighted_layer& first, bool torch, std::vector<std::string>& notes) {
    // json::array, not json{...}: a braced single json is a copy of it, not a list of one.
    json shape = json::array();
    const std::string& k = first.kind;
    auto c = json(first.in);
    if (k == "conv2d") {
        shape = torch ? json::array({c, "H", "W"}) : json::array({"H", "W", c});
    } else if (k == "conv1d") {
        shape = torch ? json::array({c, "L"}) : json::array({"L", c});
    } else if (k == "embedding") {
        shape = json::array({"T"});
    } else if (recurrent_kind(k)) {
        shape = json::array({"T", c});
    } else {
        shape = json::array({c});
    }
    bool open = false;
    for (const auto& d : shape)
        open = open || d.is_string();
    notes.push_back(open ? fmt::format("input.shape {}: the sizes named are not in the weights; give them with "
                                       "--input-shape",
                                       shape.dump())
                         : fmt::format("input.shape {}: from the first layer's input size; a sample of another shape "
                                       "(an image flattened first) needs --input-shape",
                                       shape.dump()));
    return shape;
}

spec_draft assemble(std::vector<weighted_layer> found, naming names, const std::string& strip,
                    const std::optional<shape_t>& input_shape, std::vector<std::string> trouble) {
    const bool torch = names == naming::torch;
    spec_draft draft;
    auto& notes = draft.notes;
    json layers = json::array();
    std::vector<std::string> gaps;
    auto where = [&](std::size_t i) {
        const json& l = layers[i];
        return l.contains("name") ? fmt::format("layers[{}] '{}'", i, l["name"].get<std::string>())
                                  : fmt::format("layers[{}]", i);
    };
    for (std::size_t i = 0; i < found.size(); ++i) {
        weighted_layer& l = found[i];
        if (i > 0) {
            const weighted_layer& before = found[i - 1];
            if (spatial(before.kind) && l.kind == "linear") {
                // A conv's channels straight into a linear of that size: most often a global
                // average pool between them; any other size: a flatten.
                const bool pooled = l.in == before.out;
                layers.push_back({{"type", pooled ? (before.kind == "conv2d" ? "global_avgpool2d" : "global_avgpool1d")
                                                  : "flatten"}});
                notes.push_back(
                    fmt::format("{}: {}, a guess: the weights go from a conv to a linear reading {} "
                                "features{}",
                                where(layers.size() - 1), pooled ? "a global average pool" : "a flatten", l.in,
                                pooled ? " (its channels)" : "; a pooling may belong before it"));
            }
            if (before.kind != "embedding" && l.kind != "batchnorm" && l.kind != "layernorm") {
                gaps.push_back(fmt::format("'{}' and '{}'", before.layer["name"].get<std::string>(),
                                           l.layer["name"].get<std::string>()));
            }
        }
        layers.push_back(l.layer);
        for (const auto& n : l.notes) {
            if (!n.empty()) notes.push_back(fmt::format("{}: {}", where(layers.size() - 1), n));
        }
    }
    // A recurrent layer ends the draft: its last step (a classifier's), as Keras gives it.
    for (std::size_t i = 0; i < layers.size(); ++i) {
        const auto type = layers[i]["type"].get<std::string>();
        if ((type == "lstm" || type == "gru") && !layers[i].contains("return_sequences")) {
            layers[i]["return_sequences"] =
                i + 1 < layers.size() && (layers[i + 1]["type"] == "lstm" || layers[i + 1]["type"] == "gru");
        }
        if (type == "lstm" || type == "gru") {
            notes.push_back(fmt::format(
                "{}: return_sequences {}: a guess ({}); check it", where(i), layers[i]["return_sequences"].dump(),
                layers[i]["return_sequences"] == true ? "a recurrent layer follows"
                                                      : "the last step, as a classifier reads"));
        }
    }
    if (!gaps.empty()) {
        notes.push_back(
            fmt::format("activations (relu, tanh, ...), pooling and dropout have no weights: the draft has "
                        "none; add them where the model has them (between {})",
                        fmt::join(gaps, ", ")));
    }
    if (!found.empty() && (found.back().kind == "linear")) {
        notes.push_back("the output is the last linear's, without a softmax: add one if the model ends with it");
    }
    json shape = input_shape     ? json(*input_shape)
                 : found.empty() ? json::array()
                                 : input_of(found.front(), torch, notes);
    draft.spec = {{"layout", torch ? "torch" : "keras"}, {"input", {{"shape", shape}}}, {"layers", layers}};
    if (!strip.empty()) {
        draft.spec["strip_prefix"] = strip;
        notes.push_back(fmt::format("strip_prefix \"{}\": every array name starts with it", strip));
    }
    if (found.empty()) notes.push_back("no layer recognised: the draft has no layers and is not a spec yet");
    for (auto& t : trouble)
        notes.push_back(std::move(t));
    return draft;
}

naming naming_of(const named_shapes& arrays) {
    static const std::regex positional(R"(arr_\d+)");
    static const std::set<std::string> keras_roles{
        "kernel", "bias", "gamma", "beta", "moving_mean", "moving_variance", "embeddings", "recurrent_kernel"};
    bool all_positional = !arrays.empty(), keras = false;
    for (const auto& [name, shape] : arrays) {
        all_positional = all_positional && std::regex_match(name, positional);
        const std::string bare = name.ends_with(":0") ? name.substr(0, name.size() - 2) : name;
        const auto slash = bare.rfind('/');
        if (slash != std::string::npos && keras_roles.contains(bare.substr(slash + 1))) keras = true;
    }
    return all_positional ? naming::positional : keras ? naming::keras : naming::torch;
}

}  // namespace

spec_draft draft_spec(const named_shapes& arrays, const std::optional<shape_t>& input_shape) {
    // A transformer encoder layer's arrays read as a chain of linears and layernorms, which would
    // bind and compute something else: refused, with what to write instead.
    for (const auto& [name, shape] : arrays) {
        if (!name.ends_with("self_attn.in_proj_weight")) continue;
        const std::string prefix = name.substr(0, name.size() - std::string_view("self_attn.in_proj_weight").size());
        throw error(fmt::format("'{}' is a transformer encoder layer's attention: write the spec by hand with "
                                "{{\"type\": \"transformer_encoder\", \"name\": \"{}\", \"nhead\": ...}} (the "
                                "number of heads is not in the weights; docs/model-spec.md)",
                                name, prefix.empty() ? "" : prefix.substr(0, prefix.size() - 1)));
    }
    std::vector<std::string> trouble;
    const naming names = naming_of(arrays);
    if (names == naming::keras) {
        auto layers = from_keras(arrays, trouble);
        auto d = assemble(std::move(layers), names, "", input_shape, std::move(trouble));
        d.notes.insert(d.notes.begin(), "Keras names (layer/kernel): the keras layout, samples channels last");
        return d;
    }
    if (names == naming::positional) {
        // np.savez(*model.get_weights()) writes Keras's arrays so; a 0-d array (a batchnorm's
        // num_batches_tracked) says a PyTorch state_dict was saved by position.
        const bool torch = std::any_of(arrays.begin(), arrays.end(), [](const auto& a) { return a.second.empty(); });
        auto layers = from_positions(arrays, torch, trouble);
        auto d =
            assemble(std::move(layers), torch ? naming::torch : naming::keras, "", input_shape, std::move(trouble));
        d.spec["layout"] = torch ? "torch" : "keras";
        d.notes.insert(d.notes.begin(),
                       fmt::format("positional arrays (arr_0, ...): the layers are read from shapes alone, and the "
                                   "layout is a guess ({}); state the right one in \"layout\"",
                                   torch ? "torch: a 0-d step counter is among them"
                                         : "keras, as np.savez(*model.get_weights()) writes"));
        return d;
    }
    // DataParallel's and torch.compile's prefixes, when every name has one.
    std::string strip;
    for (const char* prefix : {"module.", "_orig_mod."}) {
        if (!arrays.empty() &&
            std::all_of(arrays.begin(), arrays.end(), [&](const auto& a) { return a.first.starts_with(prefix); })) {
            strip = prefix;
        }
    }
    auto layers = from_torch(torch_groups(arrays, strip), trouble);
    auto d = assemble(std::move(layers), names, strip, input_shape, std::move(trouble));
    // A bare module's state_dict ("weight", "bias") has no prefix: its layer goes unnamed.
    for (auto& l : d.spec["layers"]) {
        if (l.contains("name") && l["name"] == "") l.erase("name");
    }
    return d;
}

}  // namespace npyflow
