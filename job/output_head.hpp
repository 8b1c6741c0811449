#pragma once
// What a scoring job writes of the network's outputs: the outputs themselves (logits), their
// softmax (probs), or the predicted class (argmax). Probabilities and classes are over the
// output's last axis: per row, or per time step of an output (T, classes).

#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "npyflow/io/dtype.hpp"
#include "npyflow/nn/model_spec.hpp"

namespace npyflow {

enum class output_kind { logits, probs, argmax };

// "logits", "probs", "argmax"; throws npyflow::error naming the three for anything else.
output_kind parse_output_kind(std::string_view name);
std::string_view name(output_kind kind);

// float32 outputs, or int64 classes for argmax.
dtype output_dtype(output_kind kind);
// The output file's shape for `rows` samples of `sample` (the network's output shape):
// argmax drops the last axis.
std::vector<std::uint64_t> output_file_shape(std::uint64_t rows, const std::vector<std::uint64_t>& sample,
                                             output_kind kind);

// The predicted class: the first largest output, as numpy's argmax; -1 (no class) for a
// vector with a NaN, where numpy and PyTorch would name the first NaN's class, a prediction
// that means nothing and that an accuracy would count as right.
std::int64_t predicted_class(const float* outputs, std::uint64_t classes);

// Turns network outputs into `kind`'s bytes, in `result`. `last`: the network's last layer,
// so that probs does not apply a softmax twice (and takes exp of a log_softmax).
void apply_output_head(std::span<const float> outputs, std::uint64_t classes, output_kind kind, layer_kind last,
                       std::vector<std::byte>& result);

}  // namespace npyflow
