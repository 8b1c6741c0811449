#include <algorithm>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/nn/layer_descriptor.hpp"

namespace npyflow {

using json = nlohmann::json;

namespace {

// Kernel sizes, strides, padding and dilation above this are refused: far past any real
// network, and small enough that no window arithmetic on them can overflow.
constexpr std::uint64_t max_window_value = 1 << 20;

std::uint64_t whole(const json& v, const char* key, bool allow_zero) {
    if (!v.is_number_integer() || v.get<std::int64_t>() < (allow_zero ? 0 : 1)) {
        throw error(fmt::format("'{}' must be a {} integer, got {}", key, allow_zero ? "non-negative" : "positive",
                                v.dump()));
    }
    return v.get<std::uint64_t>();
}

}  // namespace

const json* option_reader::take(std::initializer_list<const char*> keys) {
    const json* found = nullptr;
    for (const char* key : keys) {
        allowed_.emplace_back(key);
        if (!found && layer_.contains(key)) found = &layer_[key];
    }
    return found;
}

// The key of `keys` that is present, for messages.
static const char* present(const json& layer, std::initializer_list<const char*> keys) {
    for (const char* key : keys) {
        if (layer.contains(key)) return key;
    }
    return *keys.begin();
}

// Sizes above this are refused: far past any layer's, and small enough that the products of
// a few (gates x hidden x in) cannot overflow.
constexpr std::uint64_t max_size_value = std::uint64_t{1} << 32;

std::optional<std::uint64_t> option_reader::positive(std::initializer_list<const char*> keys) {
    const json* v = take(keys);
    if (!v) return std::nullopt;
    const std::uint64_t n = whole(*v, present(layer_, keys), false);
    if (n > max_size_value) {
        throw error(fmt::format("'{}' is {}, more than the {} npyflow accepts", present(layer_, keys), n, max_size_value));
    }
    return n;
}

std::optional<bool> option_reader::boolean(std::initializer_list<const char*> keys) {
    const json* v = take(keys);
    if (!v) return std::nullopt;
    if (!v->is_boolean()) throw error(fmt::format("'{}' must be true or false", present(layer_, keys)));
    return v->get<bool>();
}

std::optional<double> option_reader::number(std::initializer_list<const char*> keys, double at_least) {
    const json* v = take(keys);
    if (!v) return std::nullopt;
    if (!v->is_number() || v->get<double>() < at_least) {
        throw error(at_least > -1e300 ? fmt::format("'{}' must be a number of at least {}", present(layer_, keys), at_least)
                                      : fmt::format("'{}' must be a number", present(layer_, keys)));
    }
    return v->get<double>();
}

std::optional<std::int64_t> option_reader::integer(std::initializer_list<const char*> keys) {
    const json* v = take(keys);
    if (!v) return std::nullopt;
    if (!v->is_number_integer()) throw error(fmt::format("'{}' must be an integer, got {}", present(layer_, keys), v->dump()));
    return v->get<std::int64_t>();
}

std::vector<std::uint64_t> option_reader::window(std::initializer_list<const char*> keys, std::size_t rank,
                                                 bool allow_zero) {
    const json* v = take(keys);
    if (!v) return {};
    const char* key = present(layer_, keys);
    auto one = [&](const json& x) {
        const std::uint64_t n = whole(x, key, allow_zero);
        if (n > max_window_value) {
            throw error(fmt::format("'{}' is {}, more than the {} npyflow accepts", key, n, max_window_value));
        }
        return n;
    };
    if (v->is_array()) {
        if (v->size() != rank) {
            throw error(rank == 1 ? fmt::format("'{}' must be an integer or a list of one, got {}", key, v->dump())
                                  : fmt::format("'{}' must be an integer or a list of {}, got {}", key, rank, v->dump()));
        }
        std::vector<std::uint64_t> values;
        for (const auto& x : *v) values.push_back(one(x));
        return values;
    }
    return std::vector<std::uint64_t>(rank, one(*v));
}

void option_reader::finish() const {
    for (const auto& [key, value] : layer_.items()) {
        if (std::find(allowed_.begin(), allowed_.end(), key) == allowed_.end()) {
            throw error(fmt::format("unknown option '{}' (takes: {})", key, fmt::join(allowed_, ", ")));
        }
    }
}

}  // namespace npyflow
