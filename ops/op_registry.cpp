#include "npyflow/ops/op_registry.hpp"

#include <functional>
#include <optional>
#include <set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/ops/cast.hpp"
#include "npyflow/ops/clip.hpp"
#include "npyflow/ops/normalize.hpp"
#include "npyflow/ops/reshape.hpp"
#include "npyflow/ops/scale.hpp"
#include "npyflow/ops/transpose.hpp"

namespace npyflow {
namespace {

using json = nlohmann::json;

// Reads one op's parameters, checking types and refusing keys the op does not take.
class params {
public:
    params(const json& j, std::set<std::string> allowed) : j_(j) {
        allowed.insert("op");
        for (const auto& [key, value] : j.items()) {
            if (!allowed.contains(key)) {
                throw error(fmt::format("unknown parameter '{}' (takes: {})", key,
                                        fmt::join(std::vector<std::string>(allowed.begin(), allowed.end()), ", ")));
            }
        }
    }

    std::optional<double> number(const char* key) const {
        if (!j_.contains(key)) return std::nullopt;
        if (!j_[key].is_number()) throw error(fmt::format("'{}' must be a number, got {}", key, j_[key].dump()));
        return j_[key].get<double>();
    }
    double number(const char* key, double fallback) const { return number(key).value_or(fallback); }

    std::vector<double> numbers(const char* key) const {
        if (!j_.contains(key)) throw error(fmt::format("needs '{}'", key));
        const json& v = j_[key];
        if (v.is_number()) return {v.get<double>()};
        if (!v.is_array() || v.empty() || !std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number(); })) {
            throw error(fmt::format("'{}' must be a number or a list of numbers, got {}", key, v.dump()));
        }
        return v.get<std::vector<double>>();
    }

    std::vector<std::int64_t> integers(const char* key) const {
        if (!j_.contains(key)) throw error(fmt::format("needs '{}'", key));
        const json& v = j_[key];
        if (!v.is_array() || !std::all_of(v.begin(), v.end(), [](const json& x) { return x.is_number_integer(); })) {
            throw error(fmt::format("'{}' must be a list of integers, got {}", key, v.dump()));
        }
        return v.get<std::vector<std::int64_t>>();
    }

    // An integer within [low, high]: a value the op's own type cannot hold is an error, never truncated.
    std::int64_t integer(const char* key, std::int64_t fallback, std::int64_t low, std::int64_t high) const {
        if (!j_.contains(key)) return fallback;
        const json& v = j_[key];
        if (!v.is_number_integer() || (v.is_number_unsigned() && v.get<std::uint64_t>() > std::uint64_t(high)) ||
            v.get<std::int64_t>() < low || v.get<std::int64_t>() > high) {
            throw error(fmt::format("'{}' must be an integer from {} to {}, got {}", key, low, high, v.dump()));
        }
        return v.get<std::int64_t>();
    }

    dtype type(const char* key) const {
        if (!j_.contains(key)) throw error(fmt::format("needs '{}'", key));
        const json& v = j_[key];
        const auto t = v.is_string() ? dtype_from_name(v.get<std::string>()) : std::nullopt;
        if (!t) throw error(fmt::format("'{}' must be a numpy dtype name such as \"float32\", got {}", key, v.dump()));
        return *t;
    }

private:
    const json& j_;
};

// Axes beyond this are an error even before the sample's rank is known (numpy allows 32
// dimensions, 64 from numpy 2).
constexpr std::int64_t max_axes = 64;

struct registry_entry {
    const char* name;
    std::function<op_ptr(const json&)> make;
};

const std::vector<registry_entry>& registry() {
    static const std::vector<registry_entry> entries{
        {"cast", [](const json& j) { return std::make_unique<cast_op>(params(j, {"dtype"}).type("dtype")); }},
        {"scale",
         [](const json& j) {
             const params p(j, {"factor", "offset"});
             return std::make_unique<scale_op>(p.number("factor", 1.0), p.number("offset", 0.0));
         }},
        {"normalize",
         [](const json& j) {
             const params p(j, {"mean", "std", "axis"});
             return std::make_unique<normalize_op>(p.numbers("mean"), p.numbers("std"),
                                                   static_cast<int>(p.integer("axis", 0, -max_axes, max_axes - 1)));
         }},
        {"clip",
         [](const json& j) {
             const params p(j, {"min", "max"});
             const auto lo = p.number("min");
             const auto hi = p.number("max");
             if (!lo && !hi) throw error("needs 'min', 'max' or both");
             if (lo && hi && *lo > *hi) throw error(fmt::format("'min' {} is above 'max' {}", *lo, *hi));
             return std::make_unique<clip_op>(lo, hi);
         }},
        {"reshape", [](const json& j) { return std::make_unique<reshape_op>(params(j, {"shape"}).integers("shape")); }},
        {"transpose",
         [](const json& j) { return std::make_unique<transpose_op>(params(j, {"axes"}).integers("axes")); }},
    };
    return entries;
}

}  // namespace

std::vector<std::string> known_ops() {
    std::vector<std::string> names;
    for (const auto& e : registry()) names.emplace_back(e.name);
    return names;
}

std::vector<op_ptr> parse_ops(const json& list) {
    if (!list.is_array()) throw error(fmt::format("\"preprocess\" must be a list of ops, got {}", list.dump()));
    std::vector<op_ptr> ops;
    for (std::size_t i = 0; i < list.size(); ++i) {
        const json& j = list[i];
        const std::string where = fmt::format("preprocess[{}]", i);
        if (!j.is_object() || !j.contains("op") || !j["op"].is_string()) {
            throw error(fmt::format("{}: an op is an object with an \"op\" name, got {}", where, j.dump()));
        }
        const auto op_name = j["op"].get<std::string>();
        const auto it = std::find_if(registry().begin(), registry().end(),
                                     [&](const auto& e) { return op_name == e.name; });
        if (it == registry().end()) {
            throw error(fmt::format("{}: unknown op '{}' (known: {})", where, op_name, fmt::join(known_ops(), ", ")));
        }
        ops.push_back(with_context(fmt::format("{} ({})", where, op_name), [&] { return it->make(j); }));
    }
    return ops;
}

}  // namespace npyflow
