#pragma once
// A first model spec proposed from a weights file's array names and shapes alone: PyTorch
// state_dict names ("features.0.weight"), Keras names ("dense/kernel:0") or positional arrays
// (arr_0, ...). The weights give the layers with arrays and their sizes, not what lies between
// them (activations, pooling, flatten) nor a conv's stride and padding: every such guess is in
// the notes, to be checked before the spec is used. docs/model-spec.md, "Drafting a spec".

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace npyflow {

struct spec_draft {
    nlohmann::json spec;             // a spec in the form parse_model_spec reads
    std::vector<std::string> notes;  // each guess made, and what the weights could not tell
};

// arrays: names and shapes in their stored order. input_shape: one sample without the batch;
// without it, the sizes the first layer gives are used and the rest are left as placeholders
// ("H", "W", "T") that the notes ask for.
spec_draft draft_spec(const std::vector<std::pair<std::string, std::vector<std::uint64_t>>>& arrays,
                      const std::optional<std::vector<std::uint64_t>>& input_shape);

}  // namespace npyflow
