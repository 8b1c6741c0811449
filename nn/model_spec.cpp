#include "nn/model_spec.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "io/error.hpp"
#include "nn/layer_descriptor.hpp"

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
        if (d->has_weights && l.name.empty()) throw error("needs a 'name': the prefix of its arrays in the weights");
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
            for (const auto& [role, array] : v.items()) {
                if (!array.is_string()) throw error(fmt::format("'params.{}' must be an array name", role));
                l.params[role] = array.get<std::string>();
            }
        }
        option_reader options(j, layout);
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

model_spec parse_model_spec(const json& j) {
    if (!j.is_object()) throw error("a model spec is a JSON object");
    model_spec spec;
    for (const auto& [key, value] : j.items()) {
        if (key != "layout" && key != "input" && key != "preprocess" && key != "layers" && key != "strip_prefix") {
            throw error(fmt::format("unknown key '{}' (takes: layout, input, preprocess, layers, strip_prefix)", key));
        }
    }
    if (j.contains("layout")) {
        if (j["layout"] == "torch") {
            spec.layout = weight_layout::torch;
        } else if (j["layout"] == "keras") {
            spec.layout = weight_layout::keras;
        } else {
            throw error(fmt::format("'layout' must be \"torch\" or \"keras\", got {}", j["layout"].dump()));
        }
    }
    if (!j.contains("input") || !j["input"].is_object() || !j["input"].contains("shape")) {
        throw error("needs \"input\": {\"shape\": [...]}, the shape of one sample");
    }
    const json& shape = j["input"]["shape"];
    if (!shape.is_array() || shape.empty() || shape.size() > max_sample_rank ||
        !std::all_of(shape.begin(), shape.end(), [](const json& d) { return d.is_number_integer() && d.get<std::int64_t>() > 0; })) {
        throw error(fmt::format("'input.shape' must be 1 to {} positive integers, got {}", max_sample_rank, shape.dump()));
    }
    spec.input_shape = shape.get<std::vector<std::uint64_t>>();
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
