#pragma once
// A restricted unpickler: reads the pickles numpy and PyTorch write (protocols 0-5) into a
// tree of plain values. It is a stack machine that knows the data opcodes and a short
// allowlist of callables (numpy's array and dtype reconstructors, OrderedDict, torch's
// tensor rebuilders); any other global is refused by name. No Python, no code execution.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/npy_array.hpp"

namespace npyflow {

// One value of an unpickled tree. Containers point to values owned by the same pickle_tree;
// values may be shared, and a hostile pickle may make a list contain itself (through the
// memo), so whoever walks the tree must bound its depth.
struct pickle_value {
    enum class kind : std::uint8_t {
        none, boolean, integer, floating, string, bytes, list, tuple, dict,
        array,         // a numeric numpy array or torch tensor, in `array`
        object_array,  // a numpy array of dtype object: `shape`, and its elements in C order in `items`
        other          // anything else an allowed callable made (a numpy.dtype, a storage); `text` says what
    };
    kind what = kind::none;
    std::int64_t integer = 0;                // integer; boolean as 0 or 1
    double floating = 0;
    std::string text;                        // string (UTF-8); other: a description for messages
    std::span<const std::byte> bytes;        // bytes (and bytearray): in the input or owned by the tree
    std::vector<const pickle_value*> items;  // list, tuple, object_array; dict: key, value, key, value, ...
    std::vector<std::uint64_t> shape;        // object_array
    std::optional<npy_array> array;          // array: C order, little endian, owning its data
};

// "list", "dict", "numpy array", ...: a kind as messages name it.
std::string_view name(pickle_value::kind k);

// What torch._utils._rebuild_tensor_v2 asks for: a strided view of a storage that a
// torch.save zip holds as a member of its own.
struct torch_tensor_request {
    std::string storage_type;  // the storage class: "FloatStorage", "BFloat16Storage", ...
    std::string storage_key;   // the member "<prefix>/data/<key>"
    std::uint64_t storage_elements = 0;
    std::uint64_t offset = 0;  // in elements, as torch counts
    std::vector<std::uint64_t> size;
    std::vector<std::uint64_t> stride;
};

struct unpickle_options {
    // Materializes a torch tensor. Without it, torch's persistent storage references are
    // refused: only a torch.save zip has the storages they point to.
    std::function<npy_array(const torch_tensor_request&)> torch_tensor;
};

// The values of one unpickled stream; movable, and the values stay where they are.
class pickle_tree {
public:
    const pickle_value& root() const { return *root_; }
    std::size_t value_count() const { return values_->size(); }

private:
    friend class unpickler;
    pickle_tree();
    std::unique_ptr<std::deque<pickle_value>> values_;
    // Bytes the pickle's calls produced; shared with the arrays, which outlive the tree.
    std::shared_ptr<std::deque<std::vector<std::byte>>> buffers_;
    const pickle_value* root_ = nullptr;
};

// Caps that keep a hostile pickle from exhausting memory: values built, and nesting depth for
// walkers of the tree.
inline constexpr std::size_t pickle_max_values = std::size_t{1} << 22;
inline constexpr std::size_t pickle_max_depth = 100;

// Runs the pickle in `bytes` up to its STOP. Bytes values may point into `bytes`, which must
// outlive the tree; arrays own their data. Throws npyflow::error naming the problem and the
// byte offset where it was found (no file name: callers add it).
pickle_tree unpickle(std::span<const std::byte> bytes, const unpickle_options& options = {});

}  // namespace npyflow
