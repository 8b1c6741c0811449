#include "npyflow/io/pickled_npy.hpp"

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {

std::vector<named_array> read_pickled_npy(std::span<const std::byte> file, std::string_view key,
                                          const std::string& where) {
    const auto header = with_context(where, [&] { return parse_object_npy_header(file, file.size()); });
    const auto tree = with_context(where, [&] { return unpickle(file.subspan(header.data_offset)); });
    const auto& root = tree.root();
    // np.save pickles the array itself; its shape must be the header's.
    if (root.what != pickle_value::kind::object_array || root.shape != header.shape) {
        throw error(fmt::format("{}: the header declares an object array of shape {}, but its pickle holds {}", where,
                                format_shape(header.shape),
                                root.what == pickle_value::kind::object_array
                                    ? "one of shape " + format_shape(root.shape)
                                    : std::string(name(root.what))));
    }
    return arrays_in(root, key, where);
}

}  // namespace npyflow
