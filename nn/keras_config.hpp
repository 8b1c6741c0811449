#pragma once
// A Keras model's config (what model.to_json() writes, or the "model_config" attribute of a
// full-model .h5) turned into an npyflow model spec in the keras layout, so that the weights
// Keras saved bind by its own layer names ("dense/kernel:0"). docs/model-spec.md, "Specs from
// Keras", lists what maps to what.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

namespace npyflow {

// Sequential and functional models of Keras 2 (and Keras 3's config format), one input and one
// output. input_shape, one sample without the batch, fills the sizes the config leaves open
// (None) and must agree with those it gives. Throws npyflow::error naming the Keras layer and
// option for anything npyflow does not compute as Keras does: an unsupported layer type, a
// channels_first data_format, an activation npyflow lacks, two inputs, an open input size.
nlohmann::json spec_from_keras(const nlohmann::json& keras_model,
                               const std::optional<std::vector<std::uint64_t>>& input_shape = std::nullopt);

}  // namespace npyflow
