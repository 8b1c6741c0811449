#include "npyflow/nn/keras_config.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>
#include <string>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/model_spec.hpp"

namespace npyflow {
namespace {

using json = nlohmann::json;

// One layer of the Keras config, with the Keras layers it reads.
struct keras_layer {
    std::string class_name, name;
    json config;
    std::vector<std::string> inputs;
};

// The model as a graph: layers in Keras's order, the one input and the one output.
struct keras_graph {
    std::vector<keras_layer> layers;
    std::string input;  // the InputLayer's name; empty for a Sequential model without one
    std::string output;
    json batch_shape;  // the input's shape with the batch axis, as Keras writes it (null for None)
};

const json* present(const json& config, const char* key) {
    const auto it = config.find(key);
    return it == config.end() || it->is_null() ? nullptr : &*it;
}

bool flag(const json& config, const char* key, bool otherwise) {
    const json* v = present(config, key);
    return v && v->is_boolean() ? v->get<bool>() : otherwise;
}

[[noreturn]] void fail(const keras_layer& l, const std::string& what) {
    throw error(fmt::format("layer '{}' ({}) {}", l.name, l.class_name, what));
}

// An option the layer cannot be read without.
const json& need(const keras_layer& l, const char* key) {
    const json* v = present(l.config, key);
    if (!v) fail(l, fmt::format("has no '{}'", key));
    return *v;
}

std::string string_or_dump(const json& v) {
    return v.is_string() ? v.get<std::string>() : v.dump();
}

// --- reading the config into a graph -------------------------------------------------------

const json& model_body(const json& model) {
    if (!model.is_object() || !model.contains("class_name") || !model["class_name"].is_string() ||
        !model.contains("config")) {
        throw error(
            "not a Keras model config: expected {\"class_name\": \"Sequential\" or \"Functional\", \"config\": "
            "{...}}, as model.to_json() writes it");
    }
    return model["config"];
}

keras_layer layer_of(const json& item, std::size_t index) {
    if (!item.is_object() || !item.contains("class_name") || !item["class_name"].is_string() ||
        !item.contains("config") || !item["config"].is_object()) {
        throw error(
            fmt::format("config.layers[{}] is not a Keras layer: expected {{\"class_name\", \"config\"}}", index));
    }
    keras_layer l{item["class_name"].get<std::string>(), "", item["config"], {}};
    const json* name = item.contains("name") ? &item["name"] : present(l.config, "name");
    if (!name || !name->is_string() || name->get<std::string>().empty()) {
        throw error(fmt::format("config.layers[{}] ({}) has no name", index, l.class_name));
    }
    l.name = name->get<std::string>();
    return l;
}

// Keras 2 writes a node as [[layer, node_index, tensor_index, kwargs], ...]; Keras 3 as
// {"args": [...], "kwargs": {...}} holding {"class_name": "__keras_tensor__", "config":
// {"keras_history": [layer, node_index, tensor_index]}} where a layer's output is passed.
void collect_keras3_tensors(const json& v, std::vector<json>& found) {
    if (v.is_object() && v.value("class_name", "") == "__keras_tensor__") {
        found.push_back(v["config"].value("keras_history", json()));
    } else if (v.is_array() || v.is_object()) {
        for (const auto& x : v)
            collect_keras3_tensors(x, found);
    }
}

std::vector<std::string> node_inputs(const keras_layer& l, const json& node) {
    std::vector<json> history;
    if (node.is_object()) {
        collect_keras3_tensors(node.value("args", json::array()), history);
        std::vector<json> in_kwargs;
        collect_keras3_tensors(node.value("kwargs", json::object()), in_kwargs);
        if (!in_kwargs.empty()) fail(l, "takes tensors as keyword arguments (a mask?), which npyflow does not pass");
    } else if (node.is_array()) {
        history.assign(node.begin(), node.end());
    }
    std::vector<std::string> names;
    for (const auto& h : history) {
        if (!h.is_array() || h.size() < 3 || !h[0].is_string())
            fail(l, fmt::format("has an inbound node {} that is not [layer, node, tensor]", h.dump()));
        const auto source = h[0].get<std::string>();
        if (source == "_CONSTANT_VALUE") fail(l, "takes a constant as an input, which npyflow does not support");
        if (h[1] != 0)
            fail(l, fmt::format("reads call {} of layer '{}' (a shared layer), which npyflow does not support",
                                h[1].dump(), source));
        if (h[2] != 0)
            fail(l, fmt::format(
                        "reads output {} of layer '{}' (a layer with several outputs), which npyflow does not support",
                        h[2].dump(), source));
        names.push_back(source);
    }
    if (names.empty()) fail(l, "has an inbound node without an input layer");
    return names;
}

// input_layers / output_layers: one [name, node, tensor], or a list of them.
std::vector<std::string> endpoints(const json& v, const char* what) {
    std::vector<std::string> names;
    auto one = [&](const json& e) {
        if (!e.is_array() || e.empty() || !e[0].is_string())
            throw error(fmt::format("config.{} must hold [layer, node, tensor] lists, got {}", what, v.dump()));
        names.push_back(e[0].get<std::string>());
    };
    if (v.is_array() && !v.empty() && v[0].is_string()) {
        one(v);
    } else if (v.is_array()) {
        for (const auto& e : v)
            one(e);
    } else {
        throw error(
            fmt::format("config.{}: npyflow takes a model with one input and one output, got {}", what, v.dump()));
    }
    return names;
}

json input_layer_shape(const keras_layer& l) {
    if (flag(l.config, "sparse", false) || flag(l.config, "ragged", false)) {
        fail(l, "is a sparse or ragged input, which npyflow does not read");
    }
    for (const char* key : {"batch_input_shape", "batch_shape"}) {
        if (const json* v = present(l.config, key)) return *v;
    }
    fail(l, "has no batch_input_shape (nor batch_shape)");
}

keras_graph read_functional(const json& body) {
    if (!body.is_object() || !body.contains("layers") || !body["layers"].is_array()) {
        throw error("a functional model's config needs \"layers\"");
    }
    keras_graph g;
    for (std::size_t i = 0; i < body["layers"].size(); ++i) {
        const json& item = body["layers"][i];
        keras_layer l = layer_of(item, i);
        const json nodes = item.value("inbound_nodes", json::array());
        if (nodes.size() > 1) {
            fail(l, fmt::format("is called {} times (a shared layer); npyflow binds each layer's weights to one call",
                                nodes.size()));
        }
        if (!nodes.empty()) l.inputs = node_inputs(l, nodes[0]);
        g.layers.push_back(std::move(l));
    }
    for (const auto& [key, target] : {std::pair{"input_layers", &g.input}, std::pair{"output_layers", &g.output}}) {
        if (!body.contains(key)) throw error(fmt::format("a functional model's config needs \"{}\"", key));
        const auto names = endpoints(body[key], key);
        if (names.size() != 1) {
            throw error(fmt::format("the model has {} {} ('{}'); npyflow's specs take one input and give one output",
                                    names.size(), std::string_view(key) == "input_layers" ? "inputs" : "outputs",
                                    fmt::join(names, "', '")));
        }
        *target = names[0];
    }
    const auto input =
        std::find_if(g.layers.begin(), g.layers.end(), [&](const keras_layer& l) { return l.name == g.input; });
    if (input == g.layers.end()) throw error(fmt::format("config.input_layers names '{}', which is no layer", g.input));
    g.batch_shape = input_layer_shape(*input);
    return g;
}

keras_graph read_sequential(const json& body) {
    // Keras 2.0 and 2.1 wrote the list of layers as the whole config.
    const json& list = body.is_array() ? body : body.value("layers", json());
    if (!list.is_array() || list.empty()) throw error("a Sequential model's config needs a non-empty \"layers\"");
    keras_graph g;
    std::string previous;
    for (std::size_t i = 0; i < list.size(); ++i) {
        keras_layer l = layer_of(list[i], i);
        if (i == 0 && l.class_name == "InputLayer") {
            g.batch_shape = input_layer_shape(l);
            g.input = previous = l.name;
            continue;
        }
        if (i == 0) {  // the input shape given to the first layer, or to model.build()
            for (const char* key : {"batch_input_shape", "batch_shape"}) {
                if (const json* v = present(l.config, key)) g.batch_shape = *v;
            }
            if (g.batch_shape.is_null() && body.is_object() && present(body, "build_input_shape")) {
                g.batch_shape = body["build_input_shape"];
            }
        }
        l.inputs = {previous};
        previous = l.name;
        g.layers.push_back(std::move(l));
    }
    g.output = previous;
    return g;
}

keras_graph read_graph(const json& model) {
    const json& body = model_body(model);
    const auto kind = model["class_name"].get<std::string>();
    if (kind == "Sequential") return read_sequential(body);
    if (kind == "Functional" || kind == "Model") return read_functional(body);
    throw error(
        fmt::format("class_name '{}' is not a Keras model npyflow reads (Sequential, Functional, Model)", kind));
}

// The sample's shape: Keras's without the batch axis, its open sizes filled from `given`.
std::vector<std::uint64_t> sample_shape(const keras_graph& g, const std::optional<std::vector<std::uint64_t>>& given) {
    if (g.batch_shape.is_null()) {
        if (given) return *given;
        throw error(
            "the config gives no input shape (no InputLayer, no batch_input_shape on the first layer, no "
            "build_input_shape); give the input shape (one sample, without the batch)");
    }
    if (!g.batch_shape.is_array() || g.batch_shape.size() < 2) {
        throw error(fmt::format("the model's input shape {} has no axis besides the batch", g.batch_shape.dump()));
    }
    const std::size_t rank = g.batch_shape.size() - 1;
    if (given && given->size() != rank) {
        throw error(fmt::format("the input shape given has {} dims, the model's input {} has {} besides the batch",
                                given->size(), g.batch_shape.dump(), rank));
    }
    std::vector<std::uint64_t> shape;
    for (std::size_t a = 0; a < rank; ++a) {
        const json& d = g.batch_shape[a + 1];
        if (d.is_null()) {
            if (!given) {
                throw error(
                    fmt::format("the model's input has shape {} with an open size (None) besides the batch; "
                                "give the input shape (one sample, without the batch)",
                                g.batch_shape.dump()));
            }
            shape.push_back((*given)[a]);
        } else if (!d.is_number_integer() || d.get<std::int64_t>() < 1) {
            throw error(fmt::format("the model's input shape {} holds {}, not a size", g.batch_shape.dump(), d.dump()));
        } else {
            if (given && (*given)[a] != d.get<std::uint64_t>()) {
                throw error(fmt::format("the input shape given has {} in dim {}, the model's input {} says {}",
                                        (*given)[a], a, g.batch_shape.dump(), d.dump()));
            }
            shape.push_back(d.get<std::uint64_t>());
        }
    }
    return shape;
}

// The layers the output depends on, each after its inputs, in Keras's order where that allows.
std::vector<const keras_layer*> in_order(const keras_graph& g) {
    std::map<std::string, const keras_layer*> by_name;
    for (const auto& l : g.layers) {
        if (!by_name.emplace(l.name, &l).second) throw error(fmt::format("two layers are named '{}'", l.name));
    }
    std::set<std::string> needed;
    std::vector<std::string> stack{g.output};
    while (!stack.empty()) {
        const std::string name = stack.back();
        stack.pop_back();
        if (name == g.input || !needed.insert(name).second) continue;
        const auto it = by_name.find(name);
        if (it == by_name.end()) throw error(fmt::format("a layer reads '{}', which is no layer of the model", name));
        if (it->second->inputs.empty()) {
            throw error(fmt::format("layer '{}' ({}) has no inputs but is not the model's input '{}'", name,
                                    it->second->class_name, g.input));
        }
        for (const auto& s : it->second->inputs)
            stack.push_back(s);
    }
    std::vector<const keras_layer*> order;
    std::set<std::string> done{g.input};
    while (order.size() < needed.size()) {
        const auto before = order.size();
        for (const auto& l : g.layers) {
            if (!needed.contains(l.name) || done.contains(l.name)) continue;
            if (std::all_of(l.inputs.begin(), l.inputs.end(), [&](const std::string& s) { return done.contains(s); })) {
                order.push_back(&l);
                done.insert(l.name);
            }
        }
        if (order.size() == before) throw error("the model's layers form a cycle");
    }
    return order;
}

// --- converting each layer -----------------------------------------------------------------

// npyflow's type for a Keras activation, "" for linear (none).
std::string activation_type(const keras_layer& l, const json& v, const char* key) {
    // Keras 2.13+ may write a function as {"class_name": "function", "config": "relu", ...}.
    const json& name_json = v.is_object() && v.contains("config") && v["config"].is_string() ? v["config"] : v;
    if (!name_json.is_string()) fail(l, fmt::format("has {} {}, which npyflow does not compute", key, v.dump()));
    const auto name = name_json.get<std::string>();
    static const std::map<std::string, std::string> types{
        {"linear", ""},         {"relu", "relu"}, {"sigmoid", "sigmoid"},        {"tanh", "tanh"},
        {"softmax", "softmax"}, {"gelu", "gelu"}, {"log_softmax", "log_softmax"}};
    const auto it = types.find(name);
    if (it == types.end()) {
        fail(l, fmt::format("has {} \"{}\", which npyflow does not compute (it has: linear, relu, sigmoid, tanh, "
                            "softmax, gelu, log_softmax)",
                            key, name));
    }
    return it->second;
}

void check_channels_last(const keras_layer& l) {
    if (const json* v = present(l.config, "data_format"); v && *v != "channels_last") {
        fail(l, fmt::format("has data_format {}; npyflow's keras layout is channels_last, Keras's default (samples "
                            "(H, W, C), kernels (kH, kW, I, O))",
                            v->dump()));
    }
}

std::string window_padding(const keras_layer& l) {
    const std::string padding = l.config.value("padding", "valid");
    if (padding != "valid" && padding != "same") {
        fail(l, fmt::format("has padding \"{}\"; npyflow computes \"valid\" and \"same\"", padding));
    }
    return padding;
}

// An axis option that must be the last axis of an input of `rank` dims (the batch counted):
// -1, rank - 1, or a list of one of them (built layers write [3]).
void check_last_axis(const keras_layer& l, const json* axis, std::size_t rank, const char* what) {
    if (!axis) return;
    const json& a = axis->is_array() && axis->size() == 1 ? (*axis)[0] : *axis;
    if (a.is_number_integer() &&
        (a.get<std::int64_t>() == -1 || a.get<std::int64_t>() == static_cast<std::int64_t>(rank) - 1)) {
        return;
    }
    fail(l, fmt::format("has axis {}; npyflow's {} works over the last axis only ({} of its {}-D input, batch counted)",
                        axis->dump(), what, rank - 1, rank));
}

// ZeroPadding's amounts per spatial axis, equal on both sides as npyflow's conv pads.
std::vector<std::uint64_t> even_padding(const keras_layer& l, std::size_t rank) {
    const json padding = l.config.value("padding", json(1));
    std::vector<std::uint64_t> pads;
    auto side = [&](const json& v) {
        if (!v.is_number_integer() || v.get<std::int64_t>() < 0)
            fail(l, fmt::format("has padding {}, not sizes", padding.dump()));
        return v.get<std::uint64_t>();
    };
    auto axis = [&](const json& v) {
        if (v.is_array()) {
            if (v.size() != 2 || side(v[0]) != side(v[1])) {
                fail(l, fmt::format("pads {} unevenly; npyflow's conv takes the same padding on both sides of an axis",
                                    padding.dump()));
            }
            pads.push_back(side(v[0]));
        } else {
            pads.push_back(side(v));
        }
    };
    if (rank == 1) {
        axis(padding);  // an int, or (left, right)
    } else if (padding.is_array() && padding.size() == 2) {
        axis(padding[0]);
        axis(padding[1]);
    } else if (padding.is_number_integer()) {
        pads.assign(2, side(padding));
    } else {
        fail(l, fmt::format("has padding {}, not 2 axes' sizes", padding.dump()));
    }
    return pads;
}

class converter {
public:
    converter(const keras_graph& g, std::vector<const keras_layer*> order) : g_(g), order_(std::move(order)) {
        for (const auto& l : g.layers)
            taken_.insert(l.name);
        for (const auto* l : order_) {
            for (const auto& s : l->inputs)
                readers_[s].push_back(l);
        }
        output_of_[g.input] = model_input_name;
    }

    json convert(const std::vector<std::uint64_t>& input_shape) {
        rank_of_[g_.input] = input_shape.size() + 1;
        for (const auto* l : order_)
            layer(*l);
        json spec{{"layout", "keras"}, {"input", {{"shape", input_shape}}}, {"layers", layers_}};
        return spec;
    }

private:
    void layer(const keras_layer& l) {
        try {
            convert_layer(l);
        } catch (const json::exception& e) {
            fail(l, fmt::format("has an option npyflow cannot read: {}", e.what()));
        }
    }

    void convert_layer(const keras_layer& l) {
        if (l.name == model_input_name) {
            fail(l, fmt::format("is named '{}', the name npyflow's specs keep for the model's input; rename it in "
                                "Keras (its weights' names change with it)",
                                model_input_name));
        }
        const json& c = l.config;
        const std::string& k = l.class_name;
        const std::size_t in_rank = rank_of_.at(l.inputs.front());
        rank_of_[l.name] = in_rank;  // most layers keep their input's rank
        output_of_[l.name] = l.name;
        if (k == "Dense") {
            if (in_rank > 3) {  // Keras applies it per position of every axis; npyflow's linear takes (F) or (T, F)
                throw error(fmt::format("layer '{}' (Dense) reads a {}-D input and would apply to each of its "
                                        "positions, which npyflow's linear does not; flatten before it in the model",
                                        l.name, in_rank - 1));
            }
            emit(l, {{"type", "dense"}, {"units", need(l, "units")}, {"use_bias", flag(c, "use_bias", true)}});
            activation_after(l);
        } else if (k == "Conv1D" || k == "Conv2D") {
            check_channels_last(l);
            json j{{"type", k == "Conv1D" ? "conv1d" : "conv2d"},
                   {"filters", need(l, "filters")},
                   {"kernel_size", need(l, "kernel_size")},
                   {"padding", window_padding(l)},
                   {"use_bias", flag(c, "use_bias", true)}};
            for (const char* key : {"strides", "dilation_rate", "groups"}) {
                if (const json* v = present(c, key)) j[key] = *v;
            }
            if (const auto pads = zero_padding_.find(l.name); pads != zero_padding_.end()) {
                if (j["padding"] != "valid") {
                    fail(l, fmt::format("has padding {} after a ZeroPadding layer; npyflow folds a ZeroPadding into a "
                                        "conv with padding \"valid\" only",
                                        j["padding"].dump()));
                }
                j["padding"] = pads->second;
            }
            emit(l, j);
            activation_after(l);
        } else if (k == "BatchNormalization") {
            check_last_axis(l, present(c, "axis"), in_rank, "batchnorm");
            for (const char* key : {"center", "scale"}) {
                if (!flag(c, key, true)) {
                    fail(l, fmt::format("has {} false, so it has no {} array; npyflow's batchnorm needs gamma, beta, "
                                        "moving_mean and moving_variance",
                                        key, std::string_view(key) == "center" ? "beta" : "gamma"));
                }
            }
            emit(l, {{"type", "batch_normalization"}, {"epsilon", c.value("epsilon", 1e-3)}});
        } else if (k == "LayerNormalization") {
            check_last_axis(l, present(c, "axis"), in_rank, "layernorm");
            const bool center = flag(c, "center", true), scale = flag(c, "scale", true);
            if (center != scale) {
                fail(l,
                     fmt::format("has center {} and scale {}; npyflow binds gamma and beta together (both or neither)",
                                 center, scale));
            }
            json j{{"type", "layer_normalization"}, {"epsilon", c.value("epsilon", 1e-3)}};
            if (!center) j["center"] = j["scale"] = false;
            emit(l, j);
        } else if (k == "Embedding") {
            if (flag(c, "mask_zero", false)) {
                fail(l,
                     "has mask_zero true; npyflow does not mask time steps, so the layers after it would see id 0's "
                     "row");
            }
            emit(l,
                 {{"type", "embedding"}, {"input_dim", need(l, "input_dim")}, {"output_dim", need(l, "output_dim")}});
            rank_of_[l.name] = in_rank + 1;
        } else if (k == "LSTM" || k == "GRU") {
            recurrent(l, false);
        } else if (k == "Bidirectional") {
            bidirectional(l);
        } else if (k == "Activation") {
            const std::string type = activation_type(l, c.value("activation", json("linear")), "activation");
            if (type.empty()) {
                output_of_[l.name] = output_of_.at(l.inputs.front());  // linear: the input as it is
            } else {
                emit(l, {{"type", type}});
            }
        } else if (k == "ReLU") {
            if (const json* v = present(c, "max_value"))
                fail(l, fmt::format("has max_value {} (a capped relu), which npyflow does not compute", v->dump()));
            if (const json* v = present(c, "threshold"); v && *v != 0)
                fail(l, fmt::format("has threshold {}, which npyflow's relu does not take", v->dump()));
            const json* slope = present(c, "negative_slope");
            if (slope && *slope != 0) {
                emit(l, {{"type", "leaky_relu"}, {"alpha", *slope}});
            } else {
                emit(l, {{"type", "relu"}});
            }
        } else if (k == "LeakyReLU") {
            // Keras 2 writes "alpha" (default 0.3), Keras 3 "negative_slope" (default 0.2).
            const json* alpha = present(c, "alpha");
            if (!alpha) alpha = present(c, "negative_slope");
            json j{{"type", "leaky_relu"}};
            if (alpha) j["alpha"] = *alpha;
            emit(l, j);
        } else if (k == "Softmax") {
            check_last_axis(l, present(c, "axis"), in_rank, "softmax");
            emit(l, {{"type", "softmax"}});
        } else if (k == "MaxPooling1D" || k == "MaxPooling2D" || k == "AveragePooling1D" || k == "AveragePooling2D") {
            check_channels_last(l);
            std::string type = k.starts_with("Max") ? "max_pooling" : "average_pooling";
            type += k.ends_with("1D") ? "1d" : "2d";
            json j{{"type", type}, {"pool_size", need(l, "pool_size")}, {"padding", window_padding(l)}};
            if (const json* v = present(c, "strides")) j["strides"] = *v;
            emit(l, j);
        } else if (k == "GlobalAveragePooling1D" || k == "GlobalAveragePooling2D") {
            check_channels_last(l);
            if (flag(c, "keepdims", false)) fail(l, "has keepdims true; npyflow's global pooling gives (C)");
            emit(l, {{"type", k.ends_with("1D") ? "global_average_pooling1d" : "global_average_pooling2d"}});
            rank_of_[l.name] = 2;
        } else if (k == "Flatten") {
            check_channels_last(l);
            emit(l, {{"type", "flatten"}});
            rank_of_[l.name] = 2;
        } else if (k == "Dropout" || k == "SpatialDropout1D" || k == "SpatialDropout2D") {
            emit(l, {{"type", "dropout"}, {"rate", c.value("rate", 0.0)}});  // identity at inference
        } else if (k == "Add" || k == "Multiply") {
            emit(l, {{"type", k == "Add" ? "add" : "multiply"}});
        } else if (k == "Concatenate") {
            emit(l, {{"type", "concatenate"}, {"axis", c.value("axis", -1)}});
        } else if (k == "ZeroPadding1D" || k == "ZeroPadding2D") {
            fold_zero_padding(l);
        } else if (k == "Sequential" || k == "Functional" || k == "Model") {
            fail(l,
                 "is a model inside the model, which npyflow does not read; rebuild the model from the inner "
                 "model's layers");
        } else {
            fail(l, "is not supported by npyflow");
        }
    }

    // Bidirectional(LSTM(...)) or (GRU(...)): one npyflow layer, named as the wrapper, whose
    // scope holds both directions' arrays ("forward_lstm/...", "backward_lstm/...").
    void bidirectional(const keras_layer& l) {
        const json& c = l.config;
        if (const json* m = present(c, "merge_mode"); m && *m != "concat") {
            fail(l, fmt::format("has merge_mode {}; npyflow concatenates the two directions (\"concat\")", m->dump()));
        }
        if (present(c, "backward_layer")) fail(l, "has a backward_layer of its own; npyflow runs the wrapped layer both ways");
        const json* inner = present(c, "layer");
        const std::string inner_class = inner && inner->is_object() ? inner->value("class_name", "") : "";
        if (inner_class != "LSTM" && inner_class != "GRU") {
            fail(l, fmt::format("wraps {}; npyflow's bidirectional layers are LSTM and GRU",
                                inner_class.empty() ? "no layer it can read" : "a " + inner_class));
        }
        keras_layer wrapped = l;
        wrapped.class_name = inner_class;
        wrapped.config = inner->value("config", json::object());
        recurrent(wrapped, true);
    }

    void recurrent(const keras_layer& l, bool both_ways) {
        const json& c = l.config;
        for (const auto& [key, want] :
             {std::pair{"activation", "tanh"}, std::pair{"recurrent_activation", "sigmoid"}}) {
            if (const json* v = present(c, key);
                v && string_or_dump(v->is_object() ? v->value("config", *v) : *v) != want) {
                fail(l, fmt::format("has {} {}; npyflow runs the standard cell (activation tanh, recurrent_activation "
                                    "sigmoid)",
                                    key, v->dump()));
            }
        }
        for (const auto& [key, why] : {std::pair{"return_state", "npyflow gives the layer's output only"},
                                       std::pair{"go_backwards", "npyflow reads sequences forward"},
                                       std::pair{"stateful", "npyflow starts every sequence from zero states"},
                                       std::pair{"time_major", "npyflow's samples are (T, F), batch first"}}) {
            if (flag(c, key, false)) fail(l, fmt::format("has {} true; {}", key, why));
        }
        const bool sequences = flag(c, "return_sequences", false);
        json j{{"type", l.class_name == "LSTM" ? "lstm" : "gru"},
               {"units", need(l, "units")},
               {"return_sequences", sequences},
               {"use_bias", flag(c, "use_bias", true)}};
        // Keras before 2.1 had no reset_after: its GRU was the reset-before cell.
        if (l.class_name == "GRU") j["reset_after"] = flag(c, "reset_after", false);
        if (both_ways) j["bidirectional"] = true;
        emit(l, j);
        rank_of_[l.name] = sequences ? 3 : 2;
    }

    // A Dense's or Conv's "activation" becomes a layer after it, which the layers reading the
    // Keras layer then read.
    void activation_after(const keras_layer& l) {
        const json* v = present(l.config, "activation");
        if (!v) return;
        const std::string type = activation_type(l, *v, "activation");
        if (type.empty()) return;
        std::string name = l.name + "/" + type;
        for (int n = 1; taken_.contains(name); ++n)
            name = fmt::format("{}/{}_{}", l.name, type, n);
        taken_.insert(name);
        append({{"type", type}, {"name", name}}, {l.name});
        output_of_[l.name] = name;
    }

    // Keras pads before a "valid" conv with a ZeroPadding layer (keras.applications' ResNets);
    // npyflow's conv takes the padding itself.
    void fold_zero_padding(const keras_layer& l) {
        check_channels_last(l);
        const std::size_t rank = l.class_name == "ZeroPadding1D" ? 1 : 2;
        const auto& readers = readers_[l.name];
        const char* conv = rank == 1 ? "Conv1D" : "Conv2D";
        if (readers.size() != 1 || readers[0]->class_name != conv) {
            fail(l, fmt::format("is read by {}; npyflow folds a ZeroPadding into the {} right after it and supports "
                                "it nowhere else",
                                readers.empty() ? std::string("no layer")
                                                : fmt::format("'{}' ({}){}", readers[0]->name, readers[0]->class_name,
                                                              readers.size() > 1 ? " and others" : ""),
                                conv));
        }
        zero_padding_[readers[0]->name] = even_padding(l, rank);
        output_of_[l.name] = output_of_.at(l.inputs.front());
    }

    void emit(const keras_layer& l, json j) {
        j["name"] = l.name;
        std::vector<std::string> sources;
        for (const auto& s : l.inputs)
            sources.push_back(output_of_.at(s));
        append(std::move(j), sources);
    }

    // Names its inputs unless it reads the layer listed just before it.
    void append(json j, const std::vector<std::string>& sources) {
        if (sources.size() != 1 || sources[0] != previous_) j["inputs"] = sources;
        previous_ = j["name"].get<std::string>();
        layers_.push_back(std::move(j));
    }

    const keras_graph& g_;
    std::vector<const keras_layer*> order_;
    std::map<std::string, std::vector<const keras_layer*>> readers_;
    std::set<std::string> taken_;                   // Keras's names and those added for activations
    std::map<std::string, std::string> output_of_;  // Keras layer -> the npyflow layer holding its output
    std::map<std::string, std::size_t> rank_of_;    // Keras layer -> its output's rank, the batch counted
    std::map<std::string, std::vector<std::uint64_t>> zero_padding_;  // conv -> the padding folded into it
    std::string previous_ = model_input_name;
    json layers_ = json::array();
};

}  // namespace

nlohmann::json spec_from_keras(const nlohmann::json& keras_model,
                               const std::optional<std::vector<std::uint64_t>>& input_shape) {
    const keras_graph g = read_graph(keras_model);
    const auto shape = sample_shape(g, input_shape);
    auto order = in_order(g);
    if (order.empty()) throw error("the model has no layers besides its input");
    return converter(g, std::move(order)).convert(shape);
}

}  // namespace npyflow
