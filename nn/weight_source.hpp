#pragma once
// Named arrays that hold a network's weights: an .npz archive, a directory of .npy files
// (names are paths below it without ".npy", so "dense/kernel:0.npy" is "dense/kernel:0"),
// or one flat 1-D .npy that the binder splits in layer order.

#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "io/npy_array.hpp"

namespace npyflow {

class npz_archive;

class weight_source {
public:
    explicit weight_source(const std::filesystem::path& path);
    // An .npz held in memory (bytes must outlive this); `where` names it in messages.
    weight_source(std::span<const std::byte> npz_bytes, std::string where);
    ~weight_source();
    weight_source(weight_source&&) noexcept;

    const std::string& where() const { return where_; }
    // Array names in their stored order (an archive's) or sorted (a directory's); empty when flat.
    const std::vector<std::string>& names() const { return names_; }
    npy_array load(const std::string& name) const;

    // Positional archives, as np.savez(*model.get_weights()) writes them: arr_0, arr_1, ...
    bool positional() const;
    // A single 1-D vector of every weight in layer order.
    const npy_array* flat() const { return flat_.get(); }

private:
    std::string where_;
    std::vector<std::string> names_;
    std::unique_ptr<npz_archive> archive_;
    std::filesystem::path directory_;
    std::unique_ptr<npy_array> flat_;
};

}  // namespace npyflow
