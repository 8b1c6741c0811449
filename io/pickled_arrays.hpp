#pragma once
// Named arrays from an unpickled value tree: the rules that turn what users pickle (a dict of
// arrays, a list of them, a checkpoint holding a state_dict) into the names weights bind by.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/named_array.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/pickle.hpp"

namespace npyflow {


// The arrays of `root`, named:
// - a list or tuple (nested ones flattened depth first) binds positionally, arr_0, arr_1, ...,
//   as np.savez(*arrays) names them; so does a single array (arr_0);
// - a dict whose values are all arrays binds by its keys (str keys, int keys in decimal);
// - `key` (--weights-key; empty for none) first selects root[key]: the whole string as one key,
//   else its '/'-separated parts descending through dicts (and lists by index);
// - without a key, a root that binds as above is used; otherwise the one dict of arrays nested
//   anywhere in it (a checkpoint's "state_dict" or "model"). None or several is an error that
//   lists the candidates' key paths and says to pass --weights-key.
// A 0-d object array stands for its element, any other object array for a list of its elements.
// Errors name `where`; arrays are named "<where>: <name>" in their own messages.
std::vector<named_array> arrays_in(const pickle_value& root, std::string_view key, const std::string& where);

// A plain pickle file (pickle.dump of arrays, a dict or list of them, a checkpoint of them).
std::vector<named_array> read_pickle(std::span<const std::byte> file, std::string_view key, const std::string& where);

}  // namespace npyflow
