#pragma once
// An array with the name it had in the file it came from: a weight read from a Keras HDF5
// file ("dense/kernel:0") or from a pickled state dict. Containers of these keep the
// file's order, which is the order the framework itself loads them in.

#include <string>

#include "npyflow/io/npy_array.hpp"

namespace npyflow {

struct named_array {
    std::string name;
    npy_array array;
};

}  // namespace npyflow
