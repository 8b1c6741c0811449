#include "npyflow/io/torch_checkpoint.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <map>
#include <memory>

#include <fmt/format.h>

#include "npyflow/io/byteswap.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/io/pickle.hpp"

namespace npyflow {
namespace {

// How torch.save wrote checkpoints before 1.6: a pickle of this magic number first (then more
// pickles and raw storages), or, before that, a tar archive.
constexpr std::string_view legacy_magic = "\x80\x02\x8a\x0a\x6c\xfc\x9c\x46\xf9\x20\x6a\xa8\x50\x19";

bool starts_with(std::span<const std::byte> bytes, std::size_t at, std::string_view text) {
    return bytes.size() >= at + text.size() && std::memcmp(bytes.data() + at, text.data(), text.size()) == 0;
}

struct storage_element {
    std::string_view storage;
    std::size_t size;      // bytes per element in the storage
    dtype type;            // what npyflow holds it as
    bool bfloat16 = false;  // widened to float32
};

constexpr std::array<storage_element, 10> storage_elements{{
    {"FloatStorage", 4, dtype::float32},
    {"DoubleStorage", 8, dtype::float64},
    {"HalfStorage", 2, dtype::float16},
    {"BFloat16Storage", 2, dtype::float32, true},
    {"LongStorage", 8, dtype::int64},
    {"IntStorage", 4, dtype::int32},
    {"ShortStorage", 2, dtype::int16},
    {"CharStorage", 1, dtype::int8},
    {"ByteStorage", 1, dtype::uint8},
    {"BoolStorage", 1, dtype::bool_},
}};

class checkpoint_reader {
public:
    // Its errors do not name the file: read_torch_checkpoint adds it.
    explicit checkpoint_reader(std::span<const std::byte> file)
        : file_(file), members_(parse_zip_members(file)),
          // Tensors may copy storages (views, tied weights, bfloat16 widened) but not without bound.
          budget_(4 * std::uint64_t{file.size()} + (std::uint64_t{64} << 20)) {
        const npz_member* pickle = nullptr;
        for (const auto& m : members_) {
            if (m.file_name == "data.pkl" || m.file_name.ends_with("/data.pkl")) {
                if (pickle != nullptr) {
                    fail(fmt::format("two pickles, '{}' and '{}'; torch.save writes one", pickle->file_name, m.file_name));
                }
                pickle = &m;
            }
        }
        if (pickle == nullptr) {
            fail("a zip without data.pkl: not a torch.save checkpoint (an .npz is read as weights by its extension)");
        }
        prefix_ = pickle->file_name.substr(0, pickle->file_name.size() - std::string_view("data.pkl").size());
        pickle_ = read_member(*pickle);
        if (const auto* order = find(prefix_ + "byteorder")) {
            const auto text = read_member(*order);
            const std::string_view value(reinterpret_cast<const char*>(text->data()), text->size());
            if (value != "little" && value != "big") fail(fmt::format("byteorder is '{}', not 'little' or 'big'", value));
            big_endian_ = value == "big";
        }
    }

    std::span<const std::byte> pickle() const { return *pickle_; }

    npy_array tensor(const torch_tensor_request& r) {
        const auto* element = std::find_if(storage_elements.begin(), storage_elements.end(),
                                           [&](const auto& e) { return e.storage == r.storage_type; });
        if (element == storage_elements.end()) {
            fail(fmt::format("a tensor of type {} (npyflow reads float32/64/16, bfloat16, int64/32/16/8, uint8 "
                             "and bool tensors)",
                             r.storage_type));
        }
        const auto& storage = this->storage(r.storage_key, r.storage_elements, *element);
        check_view(r, storage.size() / element->size);

        npy_header header;
        header.type = element->type;
        header.order = itemsize(element->type) == 1 ? byte_order::none : byte_order::little;
        header.shape = r.size;
        check_numpy_size(header.type, header.shape);
        if (header.data_bytes() > budget_) {
            fail(fmt::format("its tensors copy more bytes than the checkpoint's size justifies (a tensor of {} "
                             "bytes)", header.data_bytes()));
        }
        budget_ -= header.data_bytes();
        auto out = std::make_shared<std::vector<std::byte>>(header.data_bytes());
        copy_view(r, storage, *element, *out);
        const auto data = std::span<const std::byte>(*out);
        return npy_array(std::move(header), data, std::move(out), "");
    }

private:
    [[noreturn]] static void fail(std::string_view what) { throw error(std::string(what)); }

    const npz_member* find(const std::string& name) const {
        for (const auto& m : members_) {
            if (m.file_name == name) return &m;
        }
        return nullptr;
    }

    std::shared_ptr<std::vector<std::byte>> read_member(const npz_member& m) const {
        // The directory's size was checked against the archive (stored) or deflate's ratio.
        auto bytes = std::make_shared<std::vector<std::byte>>(m.uncompressed_size);
        with_context(m.file_name, [&] {
            npz_member_reader reader(file_, m);
            if (reader.read(*bytes) != bytes->size()) throw error("member is shorter than the directory says");
            std::byte probe{};
            (void)reader.read({&probe, 1});  // reaching the end checks size and CRC-32
        });
        return bytes;
    }

    const std::vector<std::byte>& storage(const std::string& key, std::uint64_t elements,
                                          const storage_element& element) {
        if (const auto it = storages_.find(key); it != storages_.end()) {
            if (it->second.type != &element) fail(fmt::format("storage '{}' is read as two types", key));
            return *it->second.bytes;
        }
        const auto* member = find(prefix_ + "data/" + key);
        if (member == nullptr) fail(fmt::format("a tensor refers to storage '{}', which the zip lacks", key));
        std::uint64_t expected = 0;
        if (__builtin_mul_overflow(elements, element.size, &expected) || expected != member->uncompressed_size) {
            fail(fmt::format("storage '{}' should hold {} {} elements, but its member holds {} bytes", key, elements,
                             element.storage, member->uncompressed_size));
        }
        auto bytes = read_member(*member);
        if (big_endian_) byteswap_elements(*bytes, element.size);
        return *storages_.emplace(key, loaded{bytes, &element}).first->second.bytes;
    }

    // Every element the view reaches lies inside the storage.
    void check_view(const torch_tensor_request& r, std::uint64_t elements_held) const {
        std::uint64_t last = r.offset;
        for (std::size_t d = 0; d < r.size.size(); ++d) {
            if (r.size[d] == 0) return;  // an empty tensor reads nothing
            std::uint64_t reach = 0;
            if (__builtin_mul_overflow(r.size[d] - 1, r.stride[d], &reach) || __builtin_add_overflow(last, reach, &last)) {
                fail(fmt::format("a tensor's size {} and stride {} overflow", format_shape(r.size), format_shape(r.stride)));
            }
        }
        if (last >= elements_held) {
            fail(fmt::format("a tensor of size {}, stride {} at offset {} reaches element {} of storage '{}', which "
                             "holds {}",
                             format_shape(r.size), format_shape(r.stride), r.offset, last, r.storage_key,
                             elements_held));
        }
    }

    // Walks the view in C order with an odometer; runs along a unit-stride last axis are copied whole.
    static void copy_view(const torch_tensor_request& r, const std::vector<std::byte>& storage,
                          const storage_element& element, std::vector<std::byte>& out) {
        if (out.empty()) return;
        const std::size_t ndim = r.size.size();
        const std::uint64_t inner = ndim == 0 ? 1 : r.size[ndim - 1];
        const std::uint64_t inner_stride = ndim == 0 ? 1 : r.stride[ndim - 1];
        const std::size_t out_item = itemsize(element.type);
        std::vector<std::uint64_t> index(ndim, 0);
        std::uint64_t at = r.offset;  // storage element of the current run's start
        for (std::size_t done = 0; done < out.size(); done += inner * out_item) {
            std::byte* dst = out.data() + done;
            const std::byte* src = storage.data() + at * element.size;
            if (element.bfloat16) {
                for (std::uint64_t i = 0; i < inner; ++i) {
                    std::uint16_t bits = 0;
                    std::memcpy(&bits, src + i * inner_stride * 2, 2);
                    const float value = std::bit_cast<float>(std::uint32_t{bits} << 16);  // bfloat16 is float32's top half
                    std::memcpy(dst + i * 4, &value, 4);
                }
            } else if (inner_stride == 1) {
                std::memcpy(dst, src, inner * out_item);
            } else {
                for (std::uint64_t i = 0; i < inner; ++i) std::memcpy(dst + i * out_item, src + i * inner_stride * out_item, out_item);
            }
            for (std::size_t d = ndim - 1; ndim >= 2 && d-- > 0;) {  // the axes above the last
                at += r.stride[d];
                if (++index[d] < r.size[d]) break;
                at -= r.stride[d] * r.size[d];
                index[d] = 0;
            }
        }
    }

    struct loaded {
        std::shared_ptr<std::vector<std::byte>> bytes;
        const storage_element* type;
    };

    std::span<const std::byte> file_;
    std::vector<npz_member> members_;
    std::uint64_t budget_;
    std::string prefix_;
    std::shared_ptr<std::vector<std::byte>> pickle_;
    bool big_endian_ = false;
    std::map<std::string, loaded> storages_;
};

}  // namespace

std::vector<named_array> read_torch_checkpoint(std::span<const std::byte> file, std::string_view key,
                                               const std::string& where) {
    if (starts_with(file, 0, legacy_magic) || starts_with(file, 257, "ustar")) {
        throw error(fmt::format("{}: an old PyTorch checkpoint (before 1.6); re-save it with torch.save(obj, path, "
                                "_use_new_zipfile_serialization=True)",
                                where));
    }
    if (starts_with(file, 0, "\x80")) return read_pickle(file, key, where);  // pickle.dump, named .pth
    if (!starts_with(file, 0, "PK\x03\x04")) {
        throw error(fmt::format("{}: not a PyTorch checkpoint: neither a zip (torch.save) nor a pickle", where));
    }
    const auto tree = with_context(where, [&] {
        checkpoint_reader reader(file);
        unpickle_options options;
        options.torch_tensor = [&](const torch_tensor_request& r) { return reader.tensor(r); };
        return unpickle(reader.pickle(), options);  // tensors own their data: the reader may go
    });
    return arrays_in(tree.root(), key, where);
}

}  // namespace npyflow
