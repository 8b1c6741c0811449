#pragma once
// Weights saved with torch.save (PyTorch 1.6 and later): a zip holding <prefix>/data.pkl, a
// pickle whose tensors refer to storages kept as members <prefix>/data/<key>. Read with the
// restricted unpickler (io/pickle.hpp): nothing of the file is ever run.

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/pickled_arrays.hpp"

namespace npyflow {

// The tensors of a checkpoint, named by arrays_in's rules with `key` as --weights-key: a
// state_dict binds by its keys, wherever it sits in the checkpoint. Each tensor is copied into a
// C-order array of its own, honouring size, stride and storage offset; float32/64/16, int64/32/
// 16/8, uint8 and bool as they are, bfloat16 converted to float32 exactly. A plain pickle (no
// zip) is read as read_pickle does. Legacy (pre-1.6) checkpoints, and anything else, are refused
// with a message naming `where`.
std::vector<named_array> read_torch_checkpoint(std::span<const std::byte> file, std::string_view key,
                                               const std::string& where);

}  // namespace npyflow
