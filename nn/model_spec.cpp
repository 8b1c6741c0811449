#include "nn/model_spec.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "io/error.hpp"

namespace npyflow {
namespace {

using json = nlohmann::json;

struct kind_name {
    layer_kind kind;
    const char* name;
};

// Canonical names first, then the Keras aliases.
constexpr kind_name kind_names[] = {
    {layer_kind::linear, "linear"},         {layer_kind::conv2d, "conv2d"},
    {layer_kind::batchnorm, "batchnorm"},   {layer_kind::relu, "relu"},
    {layer_kind::leaky_relu, "leaky_relu"}, {layer_kind::sigmoid, "sigmoid"},
    {layer_kind::tanh, "tanh"},             {layer_kind::gelu, "gelu"},
    {layer_kind::softmax, "softmax"},       {layer_kind::log_softmax, "log_softmax"},
    {layer_kind::maxpool2d, "maxpool2d"},   {layer_kind::avgpool2d, "avgpool2d"},
    {layer_kind::global_avgpool2d, "global_avgpool2d"}, {layer_kind::flatten, "flatten"},
    {layer_kind::dropout, "dropout"},
    {layer_kind::linear, "dense"},          {layer_kind::batchnorm, "batch_normalization"},
    {layer_kind::maxpool2d, "max_pooling2d"}, {layer_kind::avgpool2d, "average_pooling2d"},
    {layer_kind::global_avgpool2d, "global_average_pooling2d"},
};

std::vector<std::string> known_types() {
    std::vector<std::string> names;
    for (const auto& k : kind_names) names.emplace_back(k.name);
    return names;
}

std::uint64_t positive(const json& v, const char* key) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 1) {
        throw error(fmt::format("'{}' must be a positive integer, got {}", key, v.dump()));
    }
    return v.get<std::uint64_t>();
}

std::uint64_t non_negative(const json& v, const char* key) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < 0) {
        throw error(fmt::format("'{}' must be a non-negative integer, got {}", key, v.dump()));
    }
    return v.get<std::uint64_t>();
}

// Kernel sizes, strides, padding and dilation above this are refused: far past any real
// network, and small enough that no window arithmetic on them can overflow.
constexpr std::uint64_t max_window_value = 1 << 20;

// An int or a pair [h, w], as torch and Keras both accept.
std::array<std::uint64_t, 2> pair(const json& v, const char* key, bool allow_zero) {
    auto one = [&](const json& x) {
        const std::uint64_t n = allow_zero ? non_negative(x, key) : positive(x, key);
        if (n > max_window_value) {
            throw error(fmt::format("'{}' is {}, more than the {} npyflow accepts", key, n, max_window_value));
        }
        return n;
    };
    if (v.is_array()) {
        if (v.size() != 2) throw error(fmt::format("'{}' must be an integer or a pair, got {}", key, v.dump()));
        return {one(v[0]), one(v[1])};
    }
    const auto x = one(v);
    return {x, x};
}

layer_spec parse_layer(const json& j, std::size_t index, weight_layout layout) {
    layer_spec l;
    l.index = index;
    if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) {
        throw error(fmt::format("layers[{}]: a layer is an object with a \"type\", got {}", index, j.dump()));
    }
    const auto type = j["type"].get<std::string>();
    const auto* known = std::find_if(std::begin(kind_names), std::end(kind_names),
                                     [&](const kind_name& k) { return type == k.name; });
    if (known == std::end(kind_names)) {
        throw error(fmt::format("layers[{}]: unknown layer type '{}' (known: {})", index, type,
                                fmt::join(known_types(), ", ")));
    }
    l.kind = known->kind;
    if (j.contains("name")) {
        if (!j["name"].is_string()) throw error(fmt::format("layers[{}]: 'name' must be a string", index));
        l.name = j["name"].get<std::string>();
    }
    return with_context(l.where(), [&] {
        std::vector<std::string> allowed{"type", "name"};
        auto take = [&](const char* key) -> const json* {
            allowed.emplace_back(key);
            return j.contains(key) ? &j[key] : nullptr;
        };
        const bool has_params = l.kind == layer_kind::linear || l.kind == layer_kind::conv2d ||
                                l.kind == layer_kind::batchnorm;
        if (has_params && l.name.empty()) {
            throw error("needs a 'name': the prefix of its arrays in the weights");
        }
        if (l.kind == layer_kind::linear) {
            for (const char* key : {"out_features", "units"}) {
                if (const json* v = take(key)) l.out_features = positive(*v, key);
            }
            take("in_features");  // checked against the weights by the binder
        }
        if (l.kind == layer_kind::conv2d) {
            for (const char* key : {"out_channels", "filters"}) {
                if (const json* v = take(key)) l.out_features = positive(*v, key);
            }
            take("in_channels");
            if (const json* v = take("dilation")) l.dilation = pair(*v, "dilation", false);
            if (const json* v = take("groups")) l.groups = positive(*v, "groups");
        }
        if (l.kind == layer_kind::linear || l.kind == layer_kind::conv2d) {
            for (const char* key : {"bias", "use_bias"}) {
                if (const json* v = take(key)) {
                    if (!v->is_boolean()) throw error(fmt::format("'{}' must be true or false", key));
                    l.bias = v->get<bool>();
                }
            }
        }
        if (l.kind == layer_kind::conv2d || l.kind == layer_kind::maxpool2d || l.kind == layer_kind::avgpool2d) {
            for (const char* key : {"kernel_size", "pool_size"}) {
                if (const json* v = take(key)) l.kernel_size = pair(*v, key, false);
            }
            for (const char* key : {"stride", "strides"}) {
                if (const json* v = take(key)) l.stride = pair(*v, key, false);
            }
            if (const json* v = take("padding")) {
                if (v->is_string() && (*v == "same" || *v == "valid")) {
                    l.padding = *v == "same" ? layer_spec::padding_mode::same : layer_spec::padding_mode::valid;
                } else if (v->is_string()) {
                    throw error(fmt::format("'padding' must be an integer, a pair, \"same\" or \"valid\", got {}",
                                            v->dump()));
                } else {
                    l.pad = pair(*v, "padding", true);
                }
            }
            if (l.kind != layer_kind::conv2d && !l.kernel_size) throw error("needs 'kernel_size'");
            if (l.kind == layer_kind::avgpool2d) {
                if (const json* v = take("count_include_pad")) {
                    if (!v->is_boolean()) throw error("'count_include_pad' must be true or false");
                    l.count_include_pad = v->get<bool>();
                }
            }
        }
        if (l.kind == layer_kind::batchnorm) {
            for (const char* key : {"eps", "epsilon"}) {
                if (const json* v = take(key)) {
                    if (!v->is_number() || v->get<double>() < 0) throw error(fmt::format("'{}' must be a non-negative number", key));
                    l.eps = v->get<double>();
                }
            }
            take("momentum");  // training only
        }
        if (l.kind == layer_kind::leaky_relu) {
            l.negative_slope = layout == weight_layout::keras ? 0.3 : 0.01;  // each framework's default
            for (const char* key : {"negative_slope", "alpha"}) {
                if (const json* v = take(key)) {
                    if (!v->is_number()) throw error(fmt::format("'{}' must be a number", key));
                    l.negative_slope = v->get<double>();
                }
            }
        }
        if (l.kind == layer_kind::dropout) take("p"), take("rate");
        if (l.kind == layer_kind::softmax || l.kind == layer_kind::log_softmax) take("dim"), take("axis");
        if (const json* v = take("params")) {
            if (!v->is_object()) throw error("'params' must map roles to array names");
            for (const auto& [role, array] : v->items()) {
                if (!array.is_string()) throw error(fmt::format("'params.{}' must be an array name", role));
                l.params[role] = array.get<std::string>();
            }
        }
        for (const auto& [key, value] : j.items()) {
            if (std::find(allowed.begin(), allowed.end(), key) == allowed.end()) {
                throw error(fmt::format("unknown option '{}' (takes: {})", key, fmt::join(allowed, ", ")));
            }
        }
        return l;
    });
}

}  // namespace

std::string_view name(layer_kind k) {
    for (const auto& n : kind_names) {
        if (n.kind == k) return n.name;
    }
    return "?";
}

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
    if (!shape.is_array() || shape.empty() || shape.size() > 3 ||
        !std::all_of(shape.begin(), shape.end(), [](const json& d) { return d.is_number_integer() && d.get<std::int64_t>() > 0; })) {
        throw error(fmt::format("'input.shape' must be 1 to 3 positive integers, got {}", shape.dump()));
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
    return spec;
}

}  // namespace npyflow
