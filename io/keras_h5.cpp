#include "npyflow/io/keras_h5.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <fstream>
#include <memory>
#include <unordered_map>
#include <unordered_set>

#include "npyflow/io/error.hpp"
#include "npyflow/io/hdf5_handle.hpp"
#include "npyflow/io/npy_header.hpp"

// What the file looks like comes from Keras's own writer and reader
// (keras-team/keras, keras/saving/legacy/hdf5_format.py at ddcae6320b, Keras 2.x, and
// keras/src/legacy/saving/legacy_h5_format.py in Keras 3, which writes the same layout):
// - save_weights_to_hdf5_group: attributes layer_names (model.layers order), backend,
//   keras_version on the weights group; one group per layer (created in name order, so
//   only layer_names gives the model's order); then a group top_level_model_weights.
// - save_subset_weights_to_hdf5_group: attribute weight_names (w.name, "dense/kernel:0";
//   Keras 3: w.path, "dense/kernel"), one dataset per weight at <layer group>/<name>.
// - save_attributes_to_hdf5_group / load_attributes_from_hdf5_group: a list longer than
//   64512 bytes is split into attributes <name>0, <name>1, ...; an empty list is stored
//   as np.asarray([]), a float64 array of shape (0,).
// - save_model_to_hdf5: the same under /model_weights; the root gets model_config and
//   training_config (JSON, bytes), keras_version and backend (str).
// Strings are fixed-length bytes (h5py 2) or variable-length (h5py 3); both are read.
namespace npyflow {
namespace {

using hdf5::handle;

constexpr std::size_t max_rank = 32;               // HDF5's H5S_MAX_RANK
constexpr std::uint64_t max_deflate_ratio = 1032;  // the most zlib's deflate can compress
constexpr std::uint64_t min_compressed_cap = std::uint64_t{64} << 20;

// Refuses to follow external links: a weights file must not make us open other files.
herr_t refuse_external_link(const char*, const char*, const char*, const char*, unsigned*, hid_t, void*) {
    return -1;
}

std::string join_path(const std::string& group, std::string_view name) {
    std::string path = group;
    if (path.back() != '/') path += '/';
    path += name;
    return path;
}

class keras_file_reader {
public:
    keras_file_reader(hid_t file, std::string file_name, std::uint64_t file_size)
        : file_(file), file_name_(std::move(file_name)), file_size_(file_size) {
        access_ = handle(H5Pcreate(H5P_DATASET_ACCESS), H5Pclose);
        group_access_ = handle(H5Pcreate(H5P_GROUP_ACCESS), H5Pclose);
        if (!access_ || !group_access_ || H5Pset_elink_cb(access_.get(), refuse_external_link, nullptr) < 0 ||
            H5Pset_elink_cb(group_access_.get(), refuse_external_link, nullptr) < 0) {
            fail("/", "cannot set up HDF5 access properties");
        }
    }

    keras_h5_contents read() {
        const handle root = open_group("/");
        keras_h5_contents out;
        std::string weights_path = "/";
        if (!has_attribute_list(root.get(), "layer_names")) {
            if (find_object(root.get(), "model_weights", "/") != object_kind::group) refuse_layout(root.get());
            weights_path = "/model_weights";
        }
        const handle weights = weights_path == "/" ? open_group("/") : open_group(weights_path);
        if (weights_path != "/" && !has_attribute_list(weights.get(), "layer_names")) {
            fail(weights_path, "a group model_weights without the attribute layer_names: not a Keras HDF5 file");
        }

        // save_weights_to_hdf5_group puts these on the weights group; a full-model file also
        // has them at the root.
        out.keras_version = optional_string(weights.get(), weights_path, "keras_version")
                                .value_or(optional_string(root.get(), "/", "keras_version").value_or(""));
        out.backend = optional_string(weights.get(), weights_path, "backend")
                          .value_or(optional_string(root.get(), "/", "backend").value_or(""));
        out.model_config = optional_string(root.get(), "/", "model_config");

        const auto layer_names = string_list(weights.get(), weights_path, "layer_names");
        std::unordered_set<std::string> layers_seen;
        std::unordered_map<std::string, std::string> weight_layer;  // weight name -> its layer
        auto read_layer = [&](const std::string& layer) {
            const std::string layer_path = join_path(weights_path, layer);
            if (find_object(weights.get(), layer, weights_path) != object_kind::group) {
                fail(weights_path,
                     fmt::format("layer '{}' is listed in layer_names but has no group {}", layer, layer_path));
            }
            const handle group = open_group(layer_path);
            for (const auto& weight : string_list(group.get(), layer_path, "weight_names")) {
                const auto [it, fresh] = weight_layer.emplace(weight, layer);
                if (!fresh) {
                    fail(layer_path,
                         fmt::format("weight '{}' appears twice (in layers '{}' and '{}')", weight, it->second, layer));
                }
                out.arrays.push_back({weight, read_weight(group.get(), layer, layer_path, weight)});
            }
        };
        for (const auto& layer : layer_names) {
            if (!layers_seen.insert(layer).second) {
                fail(weights_path, fmt::format("layer '{}' is listed twice in layer_names", layer));
            }
            read_layer(layer);
        }
        // Weights of the model itself rather than of a layer (Keras loads them after the layers').
        constexpr std::string_view top_level = "top_level_model_weights";
        if (!layers_seen.contains(std::string(top_level)) &&
            find_object(weights.get(), std::string(top_level), weights_path) == object_kind::group) {
            read_layer(std::string(top_level));
        }
        return out;
    }

private:
    [[noreturn]] void fail(std::string_view object, std::string_view message) const {
        throw error(fmt::format("{}: {}: {}", file_name_, object, message));
    }
    // The message of a failed HDF5 call, with what HDF5 said about it.
    [[noreturn]] void fail_hdf5(std::string_view object, std::string_view what) const {
        const std::string detail = hdf5::last_error();
        if (detail.empty()) fail(object, fmt::format("{} (damaged file?)", what));
        fail(object, fmt::format("{}: HDF5 says: {} (damaged file?)", what, detail));
    }

    handle open_group(const std::string& path) const {
        handle g(H5Gopen2(file_, path.c_str(), group_access_.get()), H5Gclose);
        if (!g) fail_hdf5(path, "cannot open the group");
        return g;
    }

    enum class object_kind { nothing, group, dataset, other };

    // What `path` (relative to `loc`) leads to, followed one link at a time as H5Lexists
    // asks callers to, so that a missing or non-group step, a dangling soft link or a cycle
    // of them is "nothing" rather than an HDF5 error. External links are refused.
    object_kind find_object(hid_t loc, const std::string& path, const std::string& shown) const {
        if (path.find_first_not_of('/') == std::string::npos) fail(shown, fmt::format("'{}' is not a name", path));
        for (std::size_t pos = 0;;) {
            const std::size_t slash = path.find('/', pos);
            if (slash == pos) {  // an empty component: a leading '/' or "a//b", as HDF5 reads them
                pos = slash + 1;
                continue;
            }
            const std::string prefix = path.substr(0, slash);
            if (H5Lexists(loc, prefix.c_str(), H5P_DEFAULT) <= 0) return object_kind::nothing;
            H5L_info_t link{};
            if (H5Lget_info(loc, prefix.c_str(), &link, H5P_DEFAULT) < 0) return object_kind::nothing;
            if (link.type == H5L_TYPE_EXTERNAL) {
                fail(shown, fmt::format("{} is an external link (to another file); refused", prefix));
            }
            if (link.type != H5L_TYPE_HARD && link.type != H5L_TYPE_SOFT) {
                fail(shown, fmt::format("{} is a user-defined link; refused", prefix));
            }
            H5O_info_t info{};
            if (H5Oget_info_by_name2(loc, prefix.c_str(), &info, H5O_INFO_BASIC, access_.get()) < 0) {
                return object_kind::nothing;  // a dangling soft link, or a cycle of them
            }
            const bool last = slash == std::string::npos || path.find_first_not_of('/', slash) == std::string::npos;
            if (last) {
                return info.type == H5O_TYPE_GROUP     ? object_kind::group
                       : info.type == H5O_TYPE_DATASET ? object_kind::dataset
                                                       : object_kind::other;
            }
            if (info.type != H5O_TYPE_GROUP) return object_kind::nothing;
            pos = slash + 1;
        }
    }

    bool has_attribute(hid_t object, const std::string& name) const {
        const htri_t r = H5Aexists(object, name.c_str());
        if (r < 0) fail_hdf5(name, "cannot look up the attribute");
        return r > 0;
    }
    // Keras's list attributes may be split into <name>0, <name>1, ...
    bool has_attribute_list(hid_t object, const std::string& name) const {
        return has_attribute(object, name) || has_attribute(object, name + "0");
    }

    // The strings of a string attribute, or none for an attribute with no elements of any
    // type (Keras stores an empty list as a float64 array of shape (0,)).
    std::vector<std::string> attribute_strings(hid_t object, const std::string& object_path,
                                               const std::string& name) const {
        const std::string where = fmt::format("{} attribute {}", object_path, name);
        const handle attr(H5Aopen(object, name.c_str(), H5P_DEFAULT), H5Aclose);
        if (!attr) fail_hdf5(where, "cannot open the attribute");
        const handle space(H5Aget_space(attr.get()), H5Sclose);
        const handle type(H5Aget_type(attr.get()), H5Tclose);
        if (!space || !type) fail_hdf5(where, "cannot read the attribute's type and shape");
        const hssize_t count = H5Sget_simple_extent_npoints(space.get());
        if (count < 0) fail_hdf5(where, "cannot read the attribute's shape");
        if (count == 0) return {};
        const auto n = static_cast<std::uint64_t>(count);
        if (H5Tget_class(type.get()) != H5T_STRING) fail(where, "is not a string or a list of strings");
        if (n > file_size_) fail(where, fmt::format("claims {} strings in a file of {} bytes", n, file_size_));

        std::vector<std::string> out;
        out.reserve(static_cast<std::size_t>(n));
        const htri_t variable = H5Tis_variable_str(type.get());
        if (variable < 0) fail_hdf5(where, "cannot read the string type");
        if (variable > 0) {
            const handle mem(H5Tcopy(H5T_C_S1), H5Tclose);
            if (!mem || H5Tset_size(mem.get(), H5T_VARIABLE) < 0 ||
                H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0) {
                fail_hdf5(where, "cannot make a string type");
            }
            std::vector<char*> strings(static_cast<std::size_t>(n), nullptr);
            const herr_t read = H5Aread(attr.get(), mem.get(), strings.data());
            const std::string detail = read < 0 ? hdf5::last_error() : "";
            for (char* s : strings)
                out.emplace_back(s == nullptr ? "" : s);
            H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, strings.data());
            if (read < 0) fail(where, fmt::format("cannot read the strings: HDF5 says: {} (damaged file?)", detail));
            return out;
        }
        const std::size_t size = H5Tget_size(type.get());
        if (size == 0 || n > file_size_ / size) {
            fail(where, fmt::format("claims {} strings of {} bytes in a file of {} bytes", n, size, file_size_));
        }
        std::vector<char> bytes(static_cast<std::size_t>(n) * size);
        if (H5Aread(attr.get(), type.get(), bytes.data()) < 0) fail_hdf5(where, "cannot read the strings");
        const H5T_str_t pad = H5Tget_strpad(type.get());
        for (std::size_t i = 0; i < n; ++i) {
            std::string_view s(bytes.data() + i * size, size);
            if (pad == H5T_STR_SPACEPAD) {
                s = s.substr(0, s.find_last_not_of(' ') + 1);
            } else {  // NULLPAD (numpy's bytes) and NULLTERM: up to the first NUL
                s = s.substr(0, std::min(s.find('\0'), s.size()));
            }
            out.emplace_back(s);
        }
        return out;
    }

    // load_attributes_from_hdf5_group: <name>, else <name>0, <name>1, ... concatenated;
    // none of them means an empty list.
    std::vector<std::string> string_list(hid_t object, const std::string& object_path, const std::string& name) const {
        if (has_attribute(object, name)) return attribute_strings(object, object_path, name);
        std::vector<std::string> out;
        for (std::size_t chunk = 0; has_attribute(object, name + std::to_string(chunk)); ++chunk) {
            auto part = attribute_strings(object, object_path, name + std::to_string(chunk));
            out.insert(out.end(), std::make_move_iterator(part.begin()), std::make_move_iterator(part.end()));
        }
        return out;
    }

    std::optional<std::string> optional_string(hid_t object, const std::string& object_path,
                                               const std::string& name) const {
        if (!has_attribute(object, name)) return std::nullopt;
        auto strings = attribute_strings(object, object_path, name);
        if (strings.size() != 1) {
            fail(fmt::format("{} attribute {}", object_path, name),
                 fmt::format("holds {} strings, expected one", strings.size()));
        }
        return std::move(strings.front());
    }

    npy_array read_weight(hid_t layer_group, const std::string& layer, const std::string& layer_path,
                          const std::string& weight) const {
        const std::string path = join_path(layer_path, weight);
        switch (find_object(layer_group, weight, layer_path)) {
            case object_kind::dataset:
                break;
            case object_kind::nothing:
                fail(layer_path, fmt::format("layer '{}' lists weight '{}' in weight_names, but there is no dataset {}",
                                             layer, weight, path));
            case object_kind::group:
                fail(path, fmt::format("weight '{}' of layer '{}' is a group, not a dataset", weight, layer));
            case object_kind::other:
                fail(path, fmt::format("weight '{}' of layer '{}' is a named datatype, not a dataset", weight, layer));
        }
        const handle dataset(H5Dopen2(layer_group, weight.c_str(), access_.get()), H5Dclose);
        if (!dataset) fail_hdf5(path, "cannot open the dataset");
        return read_dataset(dataset.get(), path, fmt::format("{}: {}", file_name_, weight));
    }

    struct element_type {
        dtype type;
        handle memory;  // the type to read into: the file's, made little endian
    };

    element_type element_type_of(hid_t type, const std::string& path) const {
        const H5T_class_t cls = H5Tget_class(type);
        const std::size_t size = H5Tget_size(type);
        auto little_endian_copy = [&] {
            handle mem(H5Tcopy(type), H5Tclose);
            if (!mem || (size > 1 && H5Tset_order(mem.get(), H5T_ORDER_LE) < 0)) {
                fail_hdf5(path, "cannot make the memory type");
            }
            return mem;
        };
        auto check_order = [&] {
            const H5T_order_t order = H5Tget_order(type);
            if (size > 1 && order != H5T_ORDER_LE && order != H5T_ORDER_BE) {
                fail(path, "has elements in an unusual byte order (neither little nor big endian)");
            }
        };
        switch (cls) {
            case H5T_INTEGER: {
                if (H5Tget_precision(type) != size * 8 || H5Tget_offset(type) != 0) {
                    fail(path, fmt::format("has {}-bit integers in {} bytes, not a numpy type", H5Tget_precision(type),
                                           size));
                }
                check_order();
                const bool is_signed = H5Tget_sign(type) == H5T_SGN_2;
                std::optional<dtype> t;
                switch (size) {
                    case 1:
                        t = is_signed ? dtype::int8 : dtype::uint8;
                        break;
                    case 2:
                        t = is_signed ? dtype::int16 : dtype::uint16;
                        break;
                    case 4:
                        t = is_signed ? dtype::int32 : dtype::uint32;
                        break;
                    case 8:
                        t = is_signed ? dtype::int64 : dtype::uint64;
                        break;
                    default:
                        break;
                }
                if (!t) fail(path, fmt::format("has {}-byte integers, not a numpy type", size));
                return {*t, little_endian_copy()};
            }
            case H5T_FLOAT: {
                // IEEE 754 binary16/32/64 exactly: sign, exponent and mantissa where numpy has them.
                struct ieee {
                    std::size_t size, spos, epos, esize, mpos, msize, ebias;
                    dtype type;
                };
                static constexpr std::array<ieee, 3> layouts{{{2, 15, 10, 5, 0, 10, 15, dtype::float16},
                                                              {4, 31, 23, 8, 0, 23, 127, dtype::float32},
                                                              {8, 63, 52, 11, 0, 52, 1023, dtype::float64}}};
                std::size_t spos = 0, epos = 0, esize = 0, mpos = 0, msize = 0;
                if (H5Tget_fields(type, &spos, &epos, &esize, &mpos, &msize) < 0)
                    fail_hdf5(path, "cannot read its type");
                for (const auto& l : layouts) {
                    if (l.size == size && l.spos == spos && l.epos == epos && l.esize == esize && l.mpos == mpos &&
                        l.msize == msize && l.ebias == H5Tget_ebias(type) && H5Tget_norm(type) == H5T_NORM_IMPLIED &&
                        H5Tget_offset(type) == 0 && H5Tget_precision(type) == size * 8) {
                        check_order();
                        return {l.type, little_endian_copy()};
                    }
                }
                fail(path, fmt::format("has {}-byte floats that are not IEEE float16, float32 or float64", size));
            }
            case H5T_ENUM: {
                // h5py stores numpy bool as an enum of int8 with FALSE = 0 and TRUE = 1.
                const handle base(H5Tget_super(type), H5Tclose);
                bool is_bool = base && H5Tget_class(base.get()) == H5T_INTEGER && H5Tget_size(base.get()) == 1 &&
                               H5Tget_nmembers(type) == 2;
                for (unsigned i = 0; is_bool && i < 2; ++i) {
                    char* member = H5Tget_member_name(type, i);
                    signed char value = -1;
                    is_bool = member != nullptr && H5Tget_member_value(type, i, &value) >= 0 &&
                              std::string_view(member) == (i == 0 ? "FALSE" : "TRUE") && value == static_cast<int>(i);
                    H5free_memory(member);
                }
                if (!is_bool) fail(path, "is an enum dataset other than h5py's bool (FALSE = 0, TRUE = 1)");
                handle mem(H5Tcopy(type), H5Tclose);
                if (!mem) fail_hdf5(path, "cannot make the memory type");
                return {dtype::bool_, std::move(mem)};
            }
            case H5T_STRING:
                fail(path, "is a string dataset, not numbers");
            case H5T_COMPOUND:
                fail(path, "is a compound (structured) dataset, not plain numbers");
            case H5T_VLEN:
                fail(path, "is a variable-length dataset, not plain numbers");
            case H5T_ARRAY:
                fail(path, "is a dataset of HDF5 array elements, not plain numbers");
            case H5T_OPAQUE:
                fail(path, "is an opaque dataset, not plain numbers");
            case H5T_REFERENCE:
                fail(path, "is a dataset of references, not numbers");
            case H5T_BITFIELD:
                fail(path, "is a bitfield dataset, not numbers");
            default:
                break;
        }
        fail(path, "has an element type npyflow cannot read");
    }

    // The most bytes a dataset may hold (see keras_h5.hpp): the file's size, or for compressed
    // data what deflate could expand it to, capped. Checked for its chunks too, which HDF5
    // allocates whole to decompress.
    std::uint64_t dataset_byte_cap(hid_t dataset, const std::string& path, std::size_t item,
                                   const std::vector<std::uint64_t>& shape) const {
        const handle dcpl(H5Dget_create_plist(dataset), H5Pclose);
        if (!dcpl) fail_hdf5(path, "cannot read the dataset's storage properties");
        if (H5Pget_external_count(dcpl.get()) != 0) fail(path, "keeps its data in external files; refused");
        const H5D_layout_t layout = H5Pget_layout(dcpl.get());
        if (layout == H5D_VIRTUAL) fail(path, "is a virtual dataset (data in other files); refused");
        const int filters = H5Pget_nfilters(dcpl.get());
        if (filters < 0) fail_hdf5(path, "cannot read its filters");
        std::uint64_t cap = file_size_;
        if (filters > 0) {
            const std::uint64_t expanded =
                file_size_ > UINT64_MAX / max_deflate_ratio ? UINT64_MAX : file_size_ * max_deflate_ratio;
            cap = std::min(keras_h5_max_dataset_bytes, std::max(min_compressed_cap, expanded));
        }
        if (layout == H5D_CHUNKED) {
            std::array<hsize_t, max_rank> chunk{};
            const int rank = H5Pget_chunk(dcpl.get(), static_cast<int>(max_rank), chunk.data());
            if (rank < 0 || static_cast<std::size_t>(rank) != shape.size()) fail_hdf5(path, "cannot read its chunks");
            std::uint64_t chunk_bytes = item;
            for (int d = 0; d < rank; ++d) {
                const std::uint64_t c = chunk[static_cast<std::size_t>(d)];
                if (c != 0 && chunk_bytes > cap / c) fail(path, fmt::format("has chunks of more than {} bytes", cap));
                chunk_bytes *= c;
            }
        }
        return cap;
    }

    npy_array read_dataset(hid_t dataset, const std::string& path, std::string where) const {
        const handle type(H5Dget_type(dataset), H5Tclose);
        const handle space(H5Dget_space(dataset), H5Sclose);
        if (!type || !space) fail_hdf5(path, "cannot read the dataset's type and shape");
        element_type element = element_type_of(type.get(), path);

        npy_header header;
        header.type = element.type;
        header.order = itemsize(element.type) == 1 ? byte_order::none : byte_order::little;
        switch (H5Sget_simple_extent_type(space.get())) {
            case H5S_SCALAR:
                break;
            case H5S_SIMPLE: {
                const int rank = H5Sget_simple_extent_ndims(space.get());
                if (rank < 0) fail_hdf5(path, "cannot read the dataset's shape");
                if (static_cast<std::size_t>(rank) > max_rank)
                    fail(path, fmt::format("has {} dimensions, more than 32", rank));
                std::array<hsize_t, max_rank> dims{};
                if (H5Sget_simple_extent_dims(space.get(), dims.data(), nullptr) < 0) {
                    fail_hdf5(path, "cannot read the dataset's shape");
                }
                header.shape.assign(dims.begin(), dims.begin() + rank);
                break;
            }
            case H5S_NULL:
                fail(path, "has no data (a null dataspace)");
            default:
                fail_hdf5(path, "cannot read the dataset's shape");
        }

        const std::size_t item = itemsize(header.type);
        std::uint64_t elements = 1;
        for (const auto d : header.shape) {
            if (d != 0 && elements > UINT64_MAX / d) {
                fail(path, fmt::format("shape {} has more elements than 64 bits count", format_shape(header.shape)));
            }
            elements *= d;
        }
        if (elements > UINT64_MAX / item) {
            fail(path, fmt::format("shape {} of {} is more bytes than 64 bits count", format_shape(header.shape),
                                   name(header.type)));
        }
        with_context(fmt::format("{}: {}", file_name_, path), [&] { check_numpy_size(header.type, header.shape); });
        const std::uint64_t bytes = elements * item;
        const std::uint64_t cap = dataset_byte_cap(dataset, path, item, header.shape);
        if (bytes > cap) {
            fail(path, fmt::format("shape {} of {} is {} bytes, more than {} allows ({} bytes); damaged file?",
                                   format_shape(header.shape), name(header.type), bytes,
                                   cap == file_size_ ? "the whole file" : "npyflow's cap for compressed data", cap));
        }

        auto buffer = std::make_shared_for_overwrite<std::byte[]>(static_cast<std::size_t>(bytes));
        if (bytes > 0 && H5Dread(dataset, element.memory.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, buffer.get()) < 0) {
            fail_hdf5(path, "cannot read the data");
        }
        const std::span<const std::byte> data(buffer.get(), static_cast<std::size_t>(bytes));
        if (header.type == dtype::bool_) {
            for (const auto b : data) {
                if (b != std::byte{0} && b != std::byte{1}) {
                    fail(path, fmt::format("bool dataset holds the value {}", static_cast<int>(b)));
                }
            }
        }
        return npy_array(std::move(header), data, std::move(buffer), std::move(where));
    }

    // An HDF5 file that is not Keras 2's: say what it is, or what it has at the top level.
    [[noreturn]] void refuse_layout(hid_t root) const {
        struct listing {
            std::vector<std::string> groups, datasets, attributes;
            hid_t access;
        } found{{}, {}, {}, access_.get()};
        hsize_t index = 0;
        H5Literate(
            root, H5_INDEX_NAME, H5_ITER_INC, &index,
            [](hid_t group, const char* link, const H5L_info_t*, void* data) -> herr_t {
                auto& f = *static_cast<listing*>(data);
                H5O_info_t info{};
                const bool known = H5Oget_info_by_name2(group, link, &info, H5O_INFO_BASIC, f.access) >= 0;
                (known && info.type == H5O_TYPE_GROUP ? f.groups : f.datasets).emplace_back(link);
                return f.groups.size() + f.datasets.size() >= 1000 ? 1 : 0;  // enough to describe it
            },
            &found);
        index = 0;
        H5Aiterate2(
            root, H5_INDEX_NAME, H5_ITER_INC, &index,
            [](hid_t, const char* attr, const H5A_info_t*, void* data) -> herr_t {
                auto& f = *static_cast<listing*>(data);
                f.attributes.emplace_back(attr);
                return f.attributes.size() >= 1000 ? 1 : 0;
            },
            &found);
        auto has_group = [&](std::string_view g) {
            return std::find(found.groups.begin(), found.groups.end(), g) != found.groups.end();
        };
        if (has_group("layers") || has_group("vars") || has_group("_layer_checkpoint_dependencies")) {
            // Variables there are numbered per layer (layers/dense/vars/0), and the layer groups
            // iterate in name order (dense_10 before dense_2): the model's order is not in the file.
            fail("/",
                 "a Keras 3 weights file (.weights.h5: layers/<name>/vars/<index>), which does not record the "
                 "order of its layers; npyflow reads Keras 2 HDF5 files (model.save_weights(\"w.h5\") or "
                 "model.save(\"m.h5\") in Keras 2, or Keras 3's legacy model.save(\"m.h5\"))");
        }
        auto list = [](const std::vector<std::string>& names) {
            if (names.empty()) return std::string("none");
            std::string s;
            for (std::size_t i = 0; i < names.size() && i < 20; ++i)
                s += (i ? ", " : "") + names[i];
            if (names.size() > 20) s += fmt::format(", ... ({} in all)", names.size());
            return s;
        };
        fail("/", fmt::format("not a Keras HDF5 weights file (no attribute layer_names at / or /model_weights); "
                              "its top level has groups: {}; datasets: {}; attributes: {}",
                              list(found.groups), list(found.datasets), list(found.attributes)));
    }

    hid_t file_;
    std::string file_name_;
    std::uint64_t file_size_;
    handle access_;        // for datasets and links: external links are not followed
    handle group_access_;  // the same for groups
};

// Opens with `fapl` and reads; `first_bytes` (the file's start) tell "not HDF5" from "damaged".
keras_h5_contents open_and_read(const std::string& open_name, hid_t fapl, const std::string& shown_name,
                                std::uint64_t size, std::span<const std::byte> first_bytes) {
    const hdf5::quiet_errors quiet;
    if (!looks_like_hdf5(first_bytes)) {
        throw error(fmt::format("{}: not an HDF5 file (no HDF5 signature at offset 0, 512, 1024, ...)", shown_name));
    }
    const handle file(H5Fopen(open_name.c_str(), H5F_ACC_RDONLY, fapl), H5Fclose);
    if (!file) {
        const std::string detail = hdf5::last_error();
        throw error(fmt::format("{}: cannot open as HDF5 (truncated or damaged?){}", shown_name,
                                detail.empty() ? "" : ": HDF5 says: " + detail));
    }
    return keras_file_reader(file.get(), shown_name, size).read();
}

// First bytes that hold the signature of any file whose user block is at most 64 KiB.
constexpr std::size_t signature_search_bytes = 64 * 1024 + 8;

}  // namespace

keras_h5_contents read_keras_h5(const std::filesystem::path& path) {
    const std::string shown = path.string();
    std::error_code ec;
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw error(fmt::format("{}: cannot read: {}", shown, ec.message()));
    std::vector<std::byte> first(std::min<std::uintmax_t>(size, signature_search_bytes));
    std::ifstream in(path, std::ios::binary);
    if (!in.read(reinterpret_cast<char*>(first.data()), static_cast<std::streamsize>(first.size()))) {
        throw error(fmt::format("{}: cannot read", shown));
    }
    const hdf5::quiet_errors quiet;
    const handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (!fapl || H5Pset_fapl_sec2(fapl.get()) < 0) throw error(fmt::format("{}: cannot set up HDF5", shown));
    return open_and_read(shown, fapl.get(), shown, size, first);
}

keras_h5_contents read_keras_h5(std::span<const std::byte> bytes, const std::string& name) {
    const hdf5::quiet_errors quiet;
    // The core driver serves a copy of the image from memory, never touching the disk. HDF5
    // takes two open images of the same name for one file, so each gets its own name.
    static std::atomic<std::uint64_t> images{0};
    const std::string image_name = fmt::format("npyflow-image-{}", images++);
    const handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    if (!fapl || H5Pset_fapl_core(fapl.get(), 64 * 1024, false) < 0 ||
        (!bytes.empty() && H5Pset_file_image(fapl.get(), const_cast<std::byte*>(bytes.data()), bytes.size()) < 0)) {
        throw error(fmt::format("{}: cannot set up an HDF5 file image", name));
    }
    return open_and_read(image_name, fapl.get(), name, bytes.size(),
                         bytes.first(std::min(bytes.size(), signature_search_bytes)));
}

}  // namespace npyflow
