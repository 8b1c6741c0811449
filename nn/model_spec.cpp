#include "npyflow/nn/model_spec.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_descriptor.hpp"

namespace npyflow {
namespace {

using json = nlohmann::json;

// Sample ranks above this are refused: oneDNN takes at most 12 dimensions with the batch.
constexpr std::size_t max_sample_rank = 8;

std::vector<std::string> known_types() {
    std::vector<std::string> names;
    for (const auto* d : layer_table()) names.emplace_back(d->name);
    for (const auto* d : layer_table()) {
        if (d->alias) names.emplace_back(d->alias);
    }
    return names;
}

const layer_descriptor* find_type(const std::string& type) {
    for (const auto* d : layer_table()) {
        if (type == d->name || (d->alias && type == d->alias)) return d;
    }
    return nullptr;
}

std::vector<std::string> parse_inputs(const json& v) {
    if (!v.is_array() || v.empty() || !std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_string(); })) {
        throw error(fmt::format("'inputs' must be a list of layer names (or \"{}\"), got {}", model_input_name, v.dump()));
    }
    return v.get<std::vector<std::string>>();
}

weight_layout parse_layout(const json& v, const char* key) {
    if (v == "torch") return weight_layout::torch;
    if (v == "keras") return weight_layout::keras;
    throw error(fmt::format("'{}' must be \"torch\" or \"keras\", got {}", key, v.dump()));
}

std::uint64_t param_count(const json& v, const std::string& what) {
    if (!v.is_number_unsigned()) throw error(fmt::format("{} must be a non-negative integer, got {}", what, v.dump()));
    return v.get<std::uint64_t>();
}

// "W", or {"array": "W", "index": 1, "offset": 0, "shape": [128, 10], "transpose": [1, 0]}.
param_ref parse_param_ref(const std::string& role, const json& v) {
    param_ref ref;
    if (v.is_string()) {
        ref.array = v.get<std::string>();
        return ref;
    }
    const std::string where = fmt::format("'params.{}'", role);
    if (!v.is_object() || !v.contains("array") || !v["array"].is_string()) {
        throw error(fmt::format("{} must be an array name, or an object with \"array\" and optional \"index\", "
                                "\"offset\", \"shape\", \"transpose\"; got {}",
                                where, v.dump()));
    }
    for (const auto& [key, value] : v.items()) {
        if (key == "array") {
            ref.array = value.get<std::string>();
        } else if (key == "index") {
            ref.index = param_count(value, where + ".index");
        } else if (key == "offset") {
            ref.offset = param_count(value, where + ".offset");
        } else if (key == "shape" || key == "transpose") {
            if (!value.is_array() || value.empty() || value.size() > 8) {
                throw error(fmt::format("{}.{} must be a list of 1 to 8 integers, got {}", where, key, value.dump()));
            }
            for (const auto& d : value) {
                const auto n = param_count(d, fmt::format("{}.{}[]", where, key));
                if (key == "shape") {
                    if (n == 0 || n > (std::uint64_t{1} << 40)) {
                        throw error(fmt::format("{}.shape's sizes must be 1 to 2^40, got {}", where, n));
                    }
                    ref.shape.push_back(n);
                } else {
                    ref.transpose.push_back(static_cast<std::size_t>(std::min<std::uint64_t>(n, 64)));
                }
            }
        } else {
            throw error(fmt::format("{}: unknown key '{}' (takes: array, index, offset, shape, transpose)", where, key));
        }
    }
    if (ref.offset && ref.shape.empty()) {
        throw error(fmt::format("{}: 'offset' needs 'shape', the shape of the values taken from there", where));
    }
    if (!ref.transpose.empty()) {
        auto sorted = ref.transpose;
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < sorted.size(); ++i) {
            if (sorted[i] != i) {
                throw error(fmt::format("{}.transpose must be a permutation of 0 to {}, got {}", where,
                                        sorted.size() - 1, v["transpose"].dump()));
            }
        }
    }
    return ref;
}

layer_spec parse_layer(const json& j, std::size_t index, weight_layout layout) {
    layer_spec l;
    l.index = index;
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
        throw error(fmt::format("layers[{}]: a layer is an object with a \"type\", got {}", index, j.dump()));
    }
    const auto type = j["type"].get<std::string>();
    const layer_descriptor* d = find_type(type);
    if (!d) {
        throw error(fmt::format("layers[{}]: unknown layer type '{}' (known: {})", index, type,
                                fmt::join(known_types(), ", ")));
    }
    l.kind = d->kind;
    if (j.contains("name")) {
        if (!j["name"].is_string() || j["name"].get<std::string>().empty()) {
            throw error(fmt::format("layers[{}]: 'name' must be a non-empty string", index));
        }
        l.name = j["name"].get<std::string>();
    }
    return with_context(l.where(), [&] {
        if (l.name == model_input_name) {
            throw error(fmt::format("'{}' names the model's input; give the layer another name", model_input_name));
        }
        if (j.contains("inputs")) l.inputs = parse_inputs(j["inputs"]);
        if (const std::size_t n = l.inputs.empty() ? 1 : l.inputs.size(); n < d->min_inputs || n > d->max_inputs) {
            throw error(d->min_inputs == d->max_inputs ? fmt::format("takes {} input{}, 'inputs' names {}", d->min_inputs,
                                                                     d->min_inputs == 1 ? "" : "s", n)
                        : n < d->min_inputs ? fmt::format("takes at least {} inputs: name them in 'inputs'", d->min_inputs)
                                            : fmt::format("takes at most {} inputs, 'inputs' names {}", d->max_inputs, n));
        }
        if (j.contains("params")) {
            const json& v = j["params"];
            if (!v.is_object()) throw error("'params' must map roles to array names");
            for (const auto& [role, ref] : v.items()) l.params[role] = parse_param_ref(role, ref);
        }
        if (j.contains("layout")) {
            if (!d->has_weights) throw error("'layout' sets the layout of a layer's arrays, and this layer has none");
            l.layout = parse_layout(j["layout"], "layout");
        }
        option_reader options(j, l.layout.value_or(layout));  // the layer's framework's options and defaults
        d->parse(options, l);
        options.finish();
        return l;
    });
}

// Resolves each layer's inputs to earlier layers, and refuses what is not a graph of layers
// in order: unknown or repeated names, a layer before its input (or in a cycle), and an
// output nothing uses.
void resolve_graph(std::vector<layer_spec>& layers) {
    std::map<std::string, std::size_t> by_name;
    for (const auto& l : layers) {
        if (l.name.empty()) continue;
        if (const auto [it, added] = by_name.emplace(l.name, l.index); !added) {
            throw error(fmt::format("{}: the name \"{}\" is taken by {} already; names must be unique", l.where(),
                                    l.name, layers[it->second].where()));
        }
    }
    std::vector<bool> used(layers.size(), false);
    for (auto& l : layers) {
        if (l.inputs.empty()) {
            l.sources = {static_cast<int>(l.index) - 1};
        } else {
            for (const auto& input : l.inputs) {
                if (input == model_input_name) {
                    l.sources.push_back(-1);
                    continue;
                }
                const auto it = by_name.find(input);
                if (it == by_name.end()) {
                    throw error(fmt::format("{}: input \"{}\" is not the name of a layer (nor \"{}\", the model's input)",
                                            l.where(), input, model_input_name));
                }
                if (it->second == l.index) throw error(fmt::format("{}: takes its own output as input", l.where()));
                if (it->second > l.index) {
                    throw error(fmt::format("{}: its input {} comes after it; list each layer after its inputs (a "
                                            "graph with a cycle cannot be ordered so)",
                                            l.where(), layers[it->second].where()));
                }
                l.sources.push_back(static_cast<int>(it->second));
            }
        }
        for (const int s : l.sources) {
            if (s >= 0) used[static_cast<std::size_t>(s)] = true;
        }
    }
    for (std::size_t i = 0; i + 1 < layers.size(); ++i) {
        if (!used[i]) {
            const std::string& next = layers[i + 1].inputs.empty() ? "" : layers[i + 1].where();
            throw error(fmt::format("{}: its output is used by no later layer (only the last layer's output is the "
                                    "model's){}",
                                    layers[i].where(),
                                    next.empty() ? "" : fmt::format("; {} names its own 'inputs'", next)));
        }
    }
}

}  // namespace

std::string_view name(layer_kind k) { return descriptor(k).name; }

std::string layer_spec::where() const {
    return name.empty() ? fmt::format("layers[{}] ({})", index, npyflow::name(kind))
                        : fmt::format("layers[{}] ({} \"{}\")", index, npyflow::name(kind), name);
}

std::string_view name(weight_layout layout) { return layout == weight_layout::torch ? "torch" : "keras"; }

model_spec parse_model_spec(const json& j, std::optional<weight_layout> implied) {
    if (!j.is_object()) throw error("a model spec is a JSON object");
    model_spec spec;
    for (const auto& [key, value] : j.items()) {
        if (key != "layout" && key != "input" && key != "preprocess" && key != "layers" && key != "strip_prefix") {
            throw error(fmt::format("unknown key '{}' (takes: layout, input, preprocess, layers, strip_prefix)", key));
        }
    }
    if (j.contains("layout")) {
        spec.layout = parse_layout(j["layout"], "layout");
        spec.layout_stated = true;
        if (implied && *implied != spec.layout) {
            throw error(fmt::format("'layout' is \"{}\", but the weights are {}'s own file, in {}'s layout; remove "
                                    "'layout' or set it to \"{}\"",
                                    name(spec.layout), *implied == weight_layout::torch ? "PyTorch" : "Keras",
                                    *implied == weight_layout::torch ? "PyTorch" : "Keras", name(*implied)));
        }
    } else if (implied) {
        spec.layout = *implied;
        spec.layout_stated = true;  // by the file's format: not a guess
    }
    if (!j.contains("input") || !j["input"].is_object() || !j["input"].contains("shape")) {
        throw error("needs \"input\": {\"shape\": [...]}, the shape of one sample");
    }
    const json& shape = j["input"]["shape"];
    if (shape.is_array() && std::any_of(shape.begin(), shape.end(), [](const json& d) { return d.is_string(); })) {
        throw error(fmt::format("'input.shape' {} holds names where sizes go (a drafted spec's placeholders): put the "
                                "sample's sizes there, or draft again with --input-shape",
                                shape.dump()));
    }
    if (!shape.is_array() || shape.empty() || shape.size() > max_sample_rank ||
        !std::all_of(shape.begin(), shape.end(), [](const json& d) { return d.is_number_integer() && d.get<std::int64_t>() > 0; })) {
        throw error(fmt::format("'input.shape' must be 1 to {} positive integers, got {}", max_sample_rank, shape.dump()));
    }
    spec.input_shape = shape.get<std::vector<std::uint64_t>>();
    double values = 1;
    for (auto d : spec.input_shape) values *= static_cast<double>(d);
    if (values > static_cast<double>(std::uint64_t{1} << 40)) {
        throw error(fmt::format("'input.shape' {} is {:.3g} values a sample, more than any input npyflow can hold "
                                "(2^40)",
                                shape.dump(), values));
    }
    if (j.contains("preprocess")) spec.preprocess = j["preprocess"];
    if (j.contains("strip_prefix")) {
        if (!j["strip_prefix"].is_string()) throw error("'strip_prefix' must be a string");
        spec.strip_prefix = j["strip_prefix"].get<std::string>();
    }
    if (!j.contains("layers") || !j["layers"].is_array() || j["layers"].empty()) {
        throw error("needs \"layers\": a non-empty list");
    }
    for (std::size_t i = 0; i < j["layers"].size(); ++i) spec.layers.push_back(parse_layer(j["layers"][i], i, spec.layout));
    resolve_graph(spec.layers);
    return spec;
}

}  // namespace npyflow
