#pragma once
// Weights saved with np.save of Python objects (a list, tuple or dict of arrays): an .npy of
// dtype object, whose data is a pickle read by io/pickle.hpp. Datasets are never read this way.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/pickled_arrays.hpp"

namespace npyflow {

// The arrays of an object .npy (is_object_npy, io/npy_header.hpp), named by arrays_in's rules
// with `key` as --weights-key. Throws npyflow::error naming `where`.
std::vector<named_array> read_pickled_npy(std::span<const std::byte> file, std::string_view key,
                                          const std::string& where);

}  // namespace npyflow
