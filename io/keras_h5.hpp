#pragma once
// Reading the weights of a Keras 2 HDF5 file: what tf.keras / Keras 2.x write with
// model.save_weights("w.h5") (weights at the root) and model.save("m.h5") (weights under
// /model_weights, the model's JSON config as the root attribute model_config).
//
// Layout (keras/saving/legacy/hdf5_format.py, save_weights_to_hdf5_group): the weights
// group has attributes layer_names, backend, keras_version; a group per layer with an
// attribute weight_names; each weight a dataset at <layer>/<weight name>, where a '/' in
// the name makes nested groups (/dense/dense/kernel:0). Keras 3's .weights.h5
// (layers/<name>/vars/<index>) is recognised and refused.

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "npyflow/io/hdf5_signature.hpp"
#include "npyflow/io/named_array.hpp"

namespace npyflow {

// The weights of a Keras HDF5 file and what it says about itself.
struct keras_h5_contents {
    // Named as weight_names stores them ("dense/kernel:0"), in layer_names order then each
    // layer's weight_names order: the order of Keras's model.get_weights(). Weights of a
    // top_level_model_weights group (weights of the model itself, not of a layer) come last.
    std::vector<named_array> arrays;
    std::optional<std::string> model_config;  // the JSON text, only in a full-model file
    std::string keras_version;                // "" where the file does not say
    std::string backend;                      // "tensorflow", ...; "" where the file does not say
};

// Biggest dataset read, whatever the file's size: compressed chunks may legitimately hold
// more than the file, but not more than this.
inline constexpr std::uint64_t keras_h5_max_dataset_bytes = std::uint64_t{16} << 30;

// Reads every weight into memory the arrays own. Throws npyflow::error naming the file and
// the object (layer, weight, attribute) for anything that is not a readable Keras 2 file.
keras_h5_contents read_keras_h5(const std::filesystem::path& path);

// The same from an HDF5 file image in memory (copied; `bytes` need not outlive the call);
// `name` is used in messages.
keras_h5_contents read_keras_h5(std::span<const std::byte> bytes, const std::string& name);

}  // namespace npyflow
