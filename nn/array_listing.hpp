#pragma once
// Every array a file holds, as npyflow reads it: a .npy's header (O(1) whatever its size), an
// .npz's members (a deflated one inflated only as far as its header), or the weights of a
// checkpoint, .h5 or pickle as --weights sees them; optionally with statistics from one
// streaming pass. What `npyflow inspect` prints and the Python module's inspect() returns.

#include <optional>
#include <string>
#include <vector>

#include "npyflow/io/array_stats.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {

struct array_report {
    std::string name;  // "" for a plain .npy, the member key for an .npz
    npy_header header;
    std::optional<array_stats> stats;
};

struct file_report {
    std::string path;
    std::string format;  // for weights read whole: "a PyTorch checkpoint", ...
    std::vector<array_report> arrays;
};

// Throws npyflow::error saying what is wrong with the file. `key`: as --weights-key.
file_report inspect_file(const std::string& path, bool with_stats, const std::string& key = {});

}  // namespace npyflow
