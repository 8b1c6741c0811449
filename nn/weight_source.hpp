#pragma once
// Named arrays that hold a network's weights, from whatever the user saved them as
// (docs/weights.md):
// - an .npz archive;
// - a directory of .npy files (names are paths below it without ".npy", so
//   "dense/kernel:0.npy" is "dense/kernel:0");
// - one flat 1-D .npy, which the binder splits in layer order;
// - a pickled .npy (np.save of a list, tuple or dict of arrays) or a plain pickle file;
// - a PyTorch checkpoint (torch.save, zip format), its state_dict found or chosen by key;
// - a Keras HDF5 file (save_weights or a full-model save).
// Pickles are read by npyflow's restricted unpickler: nothing in them ever runs.

#include <filesystem>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/named_array.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/nn/model_spec.hpp"

namespace npyflow {

class npz_archive;

class weight_source {
public:
    // `key` (--weights-key) selects the weights inside a pickle's or checkpoint's dict;
    // refused for formats without one.
    explicit weight_source(const std::filesystem::path& path, std::string_view key = {});
    // An .npz held in memory (bytes must outlive this); `where` names it in messages.
    weight_source(std::span<const std::byte> npz_bytes, std::string where);
    ~weight_source();
    weight_source(weight_source&&) noexcept;

    const std::string& where() const { return where_; }
    // "a PyTorch checkpoint", "an .npz archive", ...: what was read, for summaries.
    const std::string& format_name() const { return format_; }
    // The layout its format implies: a checkpoint is PyTorch's, an .h5 Keras's.
    std::optional<weight_layout> implied_layout() const { return implied_; }
    // Array names in their stored order (a file's) or sorted (a directory's); empty when flat.
    const std::vector<std::string>& names() const { return names_; }
    npy_array load(const std::string& name) const;

    // Positional archives, as np.savez(*model.get_weights()) writes them: arr_0, arr_1, ...
    bool positional() const;
    // A single 1-D vector of every weight in layer order.
    const npy_array* flat() const { return flat_.get(); }

private:
    void hold(std::vector<named_array> arrays);

    std::string where_, format_;
    std::optional<weight_layout> implied_;
    std::vector<std::string> names_;
    std::unique_ptr<npz_archive> archive_;
    std::filesystem::path directory_;
    std::unique_ptr<npy_array> flat_;
    std::vector<named_array> held_;  // read whole: pickles, checkpoints, .h5 files
};

}  // namespace npyflow
