#include "npyflow/io/pickled_arrays.hpp"

#include <algorithm>
#include <charconv>
#include <optional>
#include <unordered_set>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"

namespace npyflow {
namespace {

using kind = pickle_value::kind;

// More names than any network has; a cap so that a list sharing itself 2^n ways cannot run away.
constexpr std::size_t max_names = std::size_t{1} << 20;

[[noreturn]] void too_deep(const std::string& where) {
    throw error(fmt::format("{}: the pickle nests containers more than {} deep", where, pickle_max_depth));
}

// Walks that follow every reference (binding a list tree) count their steps: a list that holds
// one list twice, n levels deep, is 2^n steps in 3n bytes of pickle.
class step_budget {
public:
    explicit step_budget(const std::string& where) : where_(where) {}
    void spend() {
        if (++steps_ > max_names) {
            throw error(fmt::format("{}: the pickle's lists refer to more than {} values; not a list of weights",
                                    where_, max_names));
        }
    }

private:
    const std::string& where_;
    std::size_t steps_ = 0;
};

// A 0-d object array stands for the one value it holds.
const pickle_value& unwrap(const pickle_value& v, const std::string& where) {
    const pickle_value* p = &v;
    for (std::size_t depth = 0; p->what == kind::object_array && p->shape.empty(); ++depth) {
        if (depth == pickle_max_depth) too_deep(where);
        p = p->items.at(0);
    }
    return *p;
}

bool is_sequence(const pickle_value& v) {
    return v.what == kind::list || v.what == kind::tuple || v.what == kind::object_array;
}

std::optional<std::string> key_name(const pickle_value& key) {
    if (key.what == kind::string) return key.text;
    if (key.what == kind::integer) return std::to_string(key.integer);
    return std::nullopt;
}

// A dict of at least one entry whose keys are names and whose values are all arrays.
bool is_array_dict(const pickle_value& v) {
    if (v.what != kind::dict || v.items.empty()) return false;
    for (std::size_t i = 0; i < v.items.size(); i += 2) {
        if (!key_name(*v.items[i]) || v.items[i + 1]->what != kind::array) return false;
    }
    return true;
}

// The arrays directly in a dict that holds other values too (a checkpoint's tensors beside its
// epoch, or beside a dict of EMA weights), as a dict of their own.
pickle_value own_arrays(const pickle_value& dict) {
    pickle_value own;
    own.what = kind::dict;
    for (std::size_t i = 0; dict.what == kind::dict && i < dict.items.size(); i += 2) {
        if (key_name(*dict.items[i]) && dict.items[i + 1]->what == kind::array) {
            own.items.push_back(dict.items[i]);
            own.items.push_back(dict.items[i + 1]);
        }
    }
    return own;
}

std::string describe(const pickle_value& v) {
    if (v.what == kind::other) return v.text;
    return fmt::format("a {}", name(v.what));
}

class binder {
public:
    explicit binder(const std::string& where) : where_(where), budget_(where) {}

    void add(std::string name, const npy_array& array) {
        if (out_.size() == max_names) throw error(fmt::format("{}: the pickle holds more than {} arrays", where_, max_names));
        if (!seen_.insert(name).second) throw error(fmt::format("{}: the array name '{}' appears twice", where_, name));
        auto labelled = array.with_where(fmt::format("{}: {}", where_, name));
        out_.push_back({std::move(name), std::move(labelled)});
    }

    // Depth first, as np.savez(*arrays) would number them.
    void flatten(const pickle_value& sequence, const std::string& path, std::size_t depth) {
        if (depth > pickle_max_depth) too_deep(where_);
        for (std::size_t i = 0; i < sequence.items.size(); ++i) {
            budget_.spend();
            const auto& item = unwrap(*sequence.items[i], where_);
            if (item.what == kind::array) {
                add(fmt::format("arr_{}", out_.size()), *item.array);
            } else if (is_sequence(item)) {
                flatten(item, fmt::format("{}{}/", path, i), depth + 1);
            } else {
                throw error(fmt::format("{}: position {}{} holds {}, not an array; a list of weights must hold only "
                                        "arrays (or lists of them)",
                                        where_, path, i, describe(item)));
            }
        }
    }

    void bind_dict(const pickle_value& dict) {
        for (std::size_t i = 0; i < dict.items.size(); i += 2) add(*key_name(*dict.items[i]), *dict.items[i + 1]->array);
    }

    std::vector<named_array> take() { return std::move(out_); }

private:
    const std::string& where_;
    std::vector<named_array> out_;
    std::unordered_set<std::string> seen_;
    step_budget budget_;
};

// Whether `v` binds on its own: an array, a dict of arrays, or a list tree of nothing but arrays.
bool binds(const pickle_value& v, const std::string& where, step_budget& budget, std::size_t depth = 0) {
    if (depth > pickle_max_depth) too_deep(where);
    budget.spend();
    if (v.what == kind::array || is_array_dict(v)) return depth == 0 || v.what == kind::array;
    if (!is_sequence(v) || v.items.empty()) return false;
    return std::all_of(v.items.begin(), v.items.end(), [&](const pickle_value* item) {
        return binds(unwrap(*item, where), where, budget, depth + 1);
    });
}

std::vector<named_array> bind_value(const pickle_value& v, const std::string& where, std::string_view what) {
    binder out(where);
    if (v.what == kind::array) {
        out.add("arr_0", *v.array);
    } else if (is_array_dict(v)) {
        out.bind_dict(v);
    } else if (is_sequence(v)) {
        out.flatten(v, "", 0);
        auto arrays = out.take();
        if (arrays.empty()) throw error(fmt::format("{}: {} is an empty {}: no arrays", where, what, name(v.what)));
        return arrays;
    } else {
        throw error(fmt::format("{}: {} is {}, not an array, a dict of arrays or a list of arrays", where, what,
                                describe(v)));
    }
    return out.take();
}

// Every dict of arrays below `v`, with its key path. Each container is visited once, so values
// shared many ways (or a list that holds itself) cost no more than their count.
struct candidate {
    std::string path;
    const pickle_value* dict;
};

class candidate_search {
public:
    explicit candidate_search(const std::string& where) : where_(where) {}

    void visit(const pickle_value& v, const std::string& path, std::size_t depth) {
        if (v.what != kind::dict && !is_sequence(v)) return;
        if (!visited_.insert(&v).second) return;
        if (depth > pickle_max_depth) too_deep(where_);
        if (is_array_dict(v)) {
            found.push_back({path, &v});
            return;
        }
        const auto child_path = [&](const std::string& part) { return path.empty() ? part : path + "/" + part; };
        if (v.what == kind::dict) {
            for (std::size_t i = 0; i < v.items.size(); i += 2) {
                // An optimizer keeps its per-parameter state under integer keys (Adam's
                // {0: {"exp_avg": ...}}): dicts of arrays, but never a model's weights.
                if (v.items[i]->what == kind::integer) continue;
                const auto k = key_name(*v.items[i]);
                if (k) visit(unwrap(*v.items[i + 1], where_), child_path(*k), depth + 1);
            }
        } else {
            for (std::size_t i = 0; i < v.items.size(); ++i) {
                visit(unwrap(*v.items[i], where_), child_path(std::to_string(i)), depth + 1);
            }
        }
    }

    std::vector<candidate> found;

private:
    const std::string& where_;
    std::unordered_set<const pickle_value*> visited_;
};

std::string list_keys(const pickle_value& dict) {
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < dict.items.size() && keys.size() < 10; i += 2) {
        const auto k = key_name(*dict.items[i]);
        keys.push_back(k ? fmt::format("'{}'", *k) : describe(*dict.items[i]));
    }
    if (dict.items.size() / 2 > keys.size()) keys.push_back("...");
    return keys.empty() ? "none" : fmt::format("{}", fmt::join(keys, ", "));
}

const pickle_value* child(const pickle_value& v, std::string_view part) {
    if (v.what == kind::dict) {
        for (std::size_t i = 0; i < v.items.size(); i += 2) {
            if (key_name(*v.items[i]) == part) return v.items[i + 1];
        }
        return nullptr;
    }
    if (is_sequence(v)) {
        std::size_t index = 0;
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), index);
        if (ec != std::errc{} || end != part.data() + part.size() || index >= v.items.size()) return nullptr;
        return v.items[index];
    }
    return nullptr;
}

// The whole key first (TF1 names hold '/'), then its parts, each level taking the longest run of
// parts that is one of its keys.
const pickle_value& select(const pickle_value& root, std::string_view key, const std::string& where) {
    if (const auto* whole = child(root, key)) return unwrap(*whole, where);
    std::vector<std::string_view> parts;
    for (std::size_t start = 0;;) {
        const auto slash = key.find('/', start);
        parts.push_back(key.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start));
        if (slash == std::string_view::npos) break;
        start = slash + 1;
    }
    const pickle_value* at = &root;
    std::string walked;
    for (std::size_t i = 0; i < parts.size();) {
        const pickle_value* next = nullptr;
        std::size_t j = parts.size();
        for (; j > i && next == nullptr; --j) {
            const std::string joined = fmt::format("{}", fmt::join(parts.begin() + static_cast<std::ptrdiff_t>(i),
                                                                   parts.begin() + static_cast<std::ptrdiff_t>(j), "/"));
            next = child(*at, joined);
        }
        if (next == nullptr) {
            const std::string in = walked.empty() ? "the pickle's root" : fmt::format("'{}'", walked);
            if (at->what == kind::dict) {
                const bool dotted = key.find('.') != std::string_view::npos && key.find('/') == std::string_view::npos;
                throw error(fmt::format("{}: --weights-key '{}': {} has no key '{}' (its keys: {}){}", where, key, in,
                                        parts[i], list_keys(*at),
                                        dotted ? "; nested keys are separated by '/', as 'model/encoder'" : ""));
            }
            throw error(fmt::format("{}: --weights-key '{}': {} is {}, which has no entry '{}'", where, key, in,
                                    describe(*at), parts[i]));
        }
        ++j;  // the loop stepped past the match
        walked = fmt::format("{}", fmt::join(parts.begin(), parts.begin() + static_cast<std::ptrdiff_t>(j), "/"));
        at = &unwrap(*next, where);
        i = j;
    }
    return *at;
}

}  // namespace

std::vector<named_array> arrays_in(const pickle_value& root_value, std::string_view key, const std::string& where) {
    const auto& root = unwrap(root_value, where);
    // ".": the arrays at the root, beside whatever else it holds.
    if (key == ".") {
        const pickle_value own = own_arrays(root);
        if (own.items.empty()) throw error(fmt::format("{}: --weights-key '.': the pickle's root holds no arrays", where));
        return bind_value(own, where, "the root's arrays");
    }
    if (!key.empty()) {
        if (root.what != kind::dict && !is_sequence(root)) {
            throw error(fmt::format("{}: --weights-key '{}' selects from a dict, but the pickle holds {}", where, key,
                                    describe(root)));
        }
        return bind_value(select(root, key, where), where, fmt::format("--weights-key '{}'", key));
    }
    step_budget budget(where);
    if (binds(root, where, budget)) return bind_value(root, where, "the pickle");

    candidate_search search(where);
    search.visit(root, "", 0);
    // Arrays at the root beside other values are a candidate too: a nested dict of arrays
    // (EMA weights, say) is then never taken for the weights without being asked for.
    const pickle_value own = own_arrays(root);
    if (!own.items.empty()) search.found.insert(search.found.begin(), {".", &own});
    if (search.found.size() == 1 && search.found[0].dict == &own) {
        return bind_value(own, where, "the root's arrays");
    }
    if (search.found.size() == 1) {
        return bind_value(*search.found[0].dict, where, fmt::format("'{}'", search.found[0].path));
    }
    if (search.found.empty()) {
        if (is_sequence(root)) (void)bind_value(root, where, "the pickle");  // says which entry is not an array
        throw error(fmt::format("{}: the pickle holds no arrays to use as weights: its root is {}{}", where,
                                describe(root), root.what == kind::dict ? " with keys " + list_keys(root) : ""));
    }
    std::vector<std::string> listed;
    for (const auto& c : search.found) {
        if (listed.size() == 10) {
            listed.push_back("...");
            break;
        }
        listed.push_back(fmt::format("'{}' ({}{} arrays)", c.path, c.path == "." ? "the root's own " : "",
                                     c.dict->items.size() / 2));
    }
    throw error(fmt::format("{}: the pickle holds {} dicts of arrays: {}; pass --weights-key with the one that "
                            "holds the weights",
                            where, search.found.size(), fmt::join(listed, ", ")));
}

std::vector<named_array> read_pickle(std::span<const std::byte> file, std::string_view key, const std::string& where) {
    const auto tree = with_context(where, [&] { return unpickle(file); });
    return arrays_in(tree.root(), key, where);
}

}  // namespace npyflow
