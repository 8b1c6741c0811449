// libFuzzer target: HDF5 file images through the Keras weights reader.
//
// libhdf5 1.10 is not robust against damaged files (it leaks on most failed loads, trusts
// sizes from the file, and has known memory errors), and it is not instrumented, so fuzzing
// its parser from here finds its bugs, not npyflow's. So the mutator below edits the file
// through HDF5's own API: every input is a well-formed HDF5 file that HDF5 wrote, and what
// varies is what npyflow must judge: Keras's attributes (layer_names, weight_names,
// model_config; fixed or variable strings, chunked, numeric, missing), dataset types,
// shapes and storage, and links (soft, hard, external, missing). The seeds are small
// Keras files (tests/io/make_keras_h5_fixtures.py).
//
// NPYFLOW_FUZZ_H5_RAW=1 mutates bytes instead (libFuzzer's own mutations), to fuzz
// libhdf5's parsing by hand; see tests/fuzz/lsan_hdf5.supp for what it reports.
#include <hdf5.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "npyflow/io/error.hpp"
#include "npyflow/io/hdf5_handle.hpp"
#include "npyflow/io/keras_h5.hpp"

// Weak: the seed corpus replay (tests/fuzz/replay_main.cpp) links without libFuzzer.
extern "C" __attribute__((weak)) std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size,
                                                              std::size_t max_size);

namespace {

using npyflow::hdf5::handle;
using rng_t = std::minstd_rand;

// "/" + name, spelled out: GCC 12 warns falsely on operator+ with a literal (-Wrestrict).
std::string rooted(const std::string& name) {
    std::string path(1, '/');
    path += name;
    return path;
}

std::uint32_t pick(rng_t& rng, std::uint32_t n) {
    return static_cast<std::uint32_t>(rng() % n);
}

struct objects {
    std::vector<std::string> groups{"/"}, datasets;
};

objects list_objects(hid_t file) {
    objects found;
    H5Ovisit2(
        file, H5_INDEX_NAME, H5_ITER_INC,
        [](hid_t, const char* name, const H5O_info_t* info, void* data) -> herr_t {
            auto& f = *static_cast<objects*>(data);
            if (std::strcmp(name, ".") == 0) return 0;
            (info->type == H5O_TYPE_GROUP ? f.groups : f.datasets).push_back(rooted(name));
            return f.groups.size() + f.datasets.size() > 200 ? 1 : 0;
        },
        &found, H5O_INFO_BASIC);
    return found;
}

// A name as Keras might store it, or one that is wrong in some way.
std::string random_name(rng_t& rng, const objects& o, const std::string& relative_to) {
    const std::vector<std::string> words{"dense",
                                         "kernel:0",
                                         "bias:0",
                                         "dense/kernel:0",
                                         "lstm/lstm_cell/kernel:0",
                                         "",
                                         "/",
                                         ".",
                                         "..",
                                         "a//b",
                                         "model_weights",
                                         "top_level_model_weights",
                                         "layer_names",
                                         "vars",
                                         "layers",
                                         std::string(300, 'x')};
    const auto& all = pick(rng, 2) ? o.datasets : o.groups;
    if (!all.empty() && pick(rng, 3) != 0) {
        std::string path = all[pick(rng, static_cast<std::uint32_t>(all.size()))];
        if (relative_to != "/" && path.starts_with(relative_to + "/")) return path.substr(relative_to.size() + 1);
        const auto slash = path.rfind('/');
        return pick(rng, 2) ? path.substr(slash + 1) : path.substr(1);
    }
    return words[pick(rng, static_cast<std::uint32_t>(words.size()))];
}

void set_strings(hid_t object, const std::string& attr, const std::vector<std::string>& strings, rng_t& rng) {
    H5Adelete(object, attr.c_str());
    const bool variable = pick(rng, 2);
    const hsize_t n = strings.size();
    const handle space(pick(rng, 8) == 0 && n == 1 ? H5Screate(H5S_SCALAR) : H5Screate_simple(1, &n, nullptr),
                       H5Sclose);
    const handle type(H5Tcopy(H5T_C_S1), H5Tclose);
    std::size_t longest = 1;
    for (const auto& s : strings)
        longest = std::max(longest, s.size());
    H5Tset_size(type.get(), variable ? H5T_VARIABLE : std::max<std::size_t>(1, longest - pick(rng, 2)));
    if (!variable) H5Tset_strpad(type.get(), pick(rng, 3) == 0 ? H5T_STR_NULLTERM : H5T_STR_NULLPAD);
    const handle a(H5Acreate2(object, attr.c_str(), type.get(), space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    if (!a) return;
    if (variable) {
        std::vector<const char*> p;
        for (const auto& s : strings)
            p.push_back(s.c_str());
        H5Awrite(a.get(), type.get(), p.data());
    } else {
        const std::size_t size = H5Tget_size(type.get());
        std::vector<char> flat(strings.size() * size, '\0');
        for (std::size_t i = 0; i < strings.size(); ++i)
            strings[i].copy(flat.data() + i * size, size);
        H5Awrite(a.get(), type.get(), flat.data());
    }
}

// Keras's empty list (float64, shape (0,)) or some other non-string attribute.
void set_numbers(hid_t object, const std::string& attr, rng_t& rng) {
    H5Adelete(object, attr.c_str());
    const hsize_t n = pick(rng, 3);
    const handle space(H5Screate_simple(1, &n, nullptr), H5Sclose);
    const handle a(H5Acreate2(object, attr.c_str(), H5T_IEEE_F64LE, space.get(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
    const double values[2] = {1.0, 2.0};
    if (a) H5Awrite(a.get(), H5T_NATIVE_DOUBLE, values);
}

handle random_type(rng_t& rng) {
    static const hid_t integers[] = {H5T_STD_I8LE,  H5T_STD_U8LE,  H5T_STD_I16LE, H5T_STD_I16BE, H5T_STD_U16LE,
                                     H5T_STD_I32LE, H5T_STD_U32BE, H5T_STD_I64LE, H5T_STD_U64LE, H5T_STD_I64BE};
    static const hid_t floats[] = {H5T_IEEE_F32LE, H5T_IEEE_F32BE, H5T_IEEE_F64LE, H5T_IEEE_F64BE};
    handle t;
    switch (pick(rng, 12)) {
        case 0:
        case 1:
        case 2:
            t = handle(H5Tcopy(integers[pick(rng, 10)]), H5Tclose);
            if (pick(rng, 8) == 0) H5Tset_precision(t.get(), H5Tget_size(t.get()) * 8 - 1);
            break;
        case 3:
        case 4:
            t = handle(H5Tcopy(floats[pick(rng, 4)]), H5Tclose);
            break;
        case 5:  // float16 as h5py makes it, or a float with other fields
            t = handle(H5Tcopy(H5T_IEEE_F32LE), H5Tclose);
            H5Tset_fields(t.get(), 15, 10, 5, 0, 10);
            H5Tset_precision(t.get(), 16);
            H5Tset_size(t.get(), 2);
            H5Tset_ebias(t.get(), pick(rng, 4) ? 15 : 7);
            if (pick(rng, 2)) H5Tset_order(t.get(), H5T_ORDER_BE);
            break;
        case 6: {  // h5py's bool, or another enum
            t = handle(H5Tenum_create(H5T_NATIVE_INT8), H5Tclose);
            signed char v = 0;
            H5Tenum_insert(t.get(), pick(rng, 6) ? "FALSE" : "NO", &v);
            v = static_cast<signed char>(pick(rng, 6) ? 1 : 2);
            H5Tenum_insert(t.get(), "TRUE", &v);
            break;
        }
        case 7:
            t = handle(H5Tcopy(H5T_C_S1), H5Tclose);
            H5Tset_size(t.get(), pick(rng, 2) ? H5T_VARIABLE : 4);
            break;
        case 8:
            t = handle(H5Tcreate(H5T_COMPOUND, 8), H5Tclose);
            H5Tinsert(t.get(), "a", 0, H5T_STD_I32LE);
            H5Tinsert(t.get(), "b", 4, H5T_IEEE_F32LE);
            break;
        case 9:
            t = handle(H5Tvlen_create(H5T_STD_I32LE), H5Tclose);
            break;
        case 10: {
            const hsize_t dim = 2;
            t = handle(H5Tarray_create2(H5T_IEEE_F32LE, 1, &dim), H5Tclose);
            break;
        }
        default: {
            static const hid_t others[] = {H5T_STD_B8LE, H5T_STD_REF_OBJ};
            if (pick(rng, 3) == 0) {
                t = handle(H5Tcreate(H5T_OPAQUE, 4), H5Tclose);
                H5Tset_tag(t.get(), "raw");
            } else {
                t = handle(H5Tcopy(others[pick(rng, 2)]), H5Tclose);
            }
        }
    }
    return t;
}

void add_dataset(hid_t file, const std::string& path, rng_t& rng) {
    const handle type = random_type(rng);
    if (!type) return;
    const handle dcpl(H5Pcreate(H5P_DATASET_CREATE), H5Pclose);
    handle space;
    std::vector<hsize_t> dims;
    bool huge = false;
    switch (pick(rng, 10)) {
        case 0:
            space = handle(H5Screate(H5S_SCALAR), H5Sclose);
            break;
        case 1:
            space = handle(H5Screate(H5S_NULL), H5Sclose);
            break;
        default: {
            const unsigned rank = pick(rng, 12) == 0 ? 1 + pick(rng, 32) : pick(rng, 5);
            for (unsigned i = 0; i < rank; ++i)
                dims.push_back(rank > 4 ? 1 : pick(rng, 5));
            if (!dims.empty() && pick(rng, 6) == 0) {  // far more than the file holds, never written
                dims[0] = hsize_t{1} << (20 + pick(rng, 40));
                huge = true;
            }
            space = handle(H5Screate_simple(static_cast<int>(rank), dims.data(), nullptr), H5Sclose);
            if (!dims.empty() && (huge || pick(rng, 4) == 0)) {
                std::vector<hsize_t> chunk(dims.size(), 1);
                H5Pset_chunk(dcpl.get(), static_cast<int>(chunk.size()), chunk.data());
                if (pick(rng, 2)) H5Pset_deflate(dcpl.get(), 1);
            }
        }
    }
    H5Ldelete(file, path.c_str(), H5P_DEFAULT);
    const handle lcpl(H5Pcreate(H5P_LINK_CREATE), H5Pclose);
    H5Pset_create_intermediate_group(lcpl.get(), 1);
    const handle ds(H5Dcreate2(file, path.c_str(), type.get(), space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                    H5Dclose);
    if (!ds || huge) return;
    const H5T_class_t cls = H5Tget_class(type.get());
    if (cls == H5T_VLEN || cls == H5T_REFERENCE || H5Tis_variable_str(type.get()) > 0) return;
    const hssize_t n = H5Sget_simple_extent_npoints(space.get());
    if (n <= 0) return;
    std::vector<unsigned char> bytes(static_cast<std::size_t>(n) * H5Tget_size(type.get()));
    for (auto& b : bytes)
        b = static_cast<unsigned char>(pick(rng, 8) == 0 ? pick(rng, 256) : pick(rng, 2));
    H5Dwrite(ds.get(), type.get(), H5S_ALL, H5S_ALL, H5P_DEFAULT, bytes.data());
}

void edit(hid_t file, rng_t& rng) {
    const objects o = list_objects(file);
    const std::string& group_path = o.groups[pick(rng, static_cast<std::uint32_t>(o.groups.size()))];
    handle group(H5Gopen2(file, group_path.c_str(), H5P_DEFAULT), H5Gclose);
    if (!group) return;
    switch (pick(rng, 9)) {
        case 0:
        case 1:
        case 2: {  // a Keras name list, pointing at what is there (or not)
            static const char* lists[] = {"layer_names", "weight_names", "layer_names0", "layer_names1",
                                          "weight_names0"};
            const std::string attr = lists[pick(rng, 5)];
            if (pick(rng, 6) == 0) return set_numbers(group.get(), attr, rng);
            std::vector<std::string> names(pick(rng, 5));
            for (auto& n : names)
                n = random_name(rng, o, group_path);
            return set_strings(group.get(), attr, names, rng);
        }
        case 3: {  // the file's description of itself
            static const char* meta[] = {"model_config", "keras_version", "backend", "training_config"};
            std::vector<std::string> value(pick(rng, 5) ? 1 : 2,
                                           pick(rng, 2) ? "{\"class_name\": \"Sequential\"}" : "2.13.1");
            return set_strings(group.get(), meta[pick(rng, 4)], value, rng);
        }
        case 4:
        case 5:
            group = handle();  // nothing open where links are deleted and made
            return add_dataset(file,
                               group_path == "/" ? rooted(random_name(rng, o, "/"))
                                                 : group_path + "/" + random_name(rng, o, group_path),
                               rng);
        case 6: {  // links: soft (maybe dangling), hard (maybe a cycle), external
            const std::string name = random_name(rng, o, group_path);
            const std::string target = random_name(rng, o, "/");
            H5Ldelete(group.get(), name.c_str(), H5P_DEFAULT);
            switch (pick(rng, 3)) {
                case 0:
                    H5Lcreate_soft(rooted(target).c_str(), group.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
                    break;
                case 1:
                    H5Lcreate_hard(file, rooted(target).c_str(), group.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
                    break;
                default:
                    H5Lcreate_external("other.h5", "/x", group.get(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT);
            }
            return;
        }
        case 7: {  // something removed
            const std::string name = random_name(rng, o, group_path);
            if (pick(rng, 2))
                H5Ldelete(group.get(), name.c_str(), H5P_DEFAULT);
            else
                H5Adelete(group.get(), pick(rng, 2) ? "layer_names" : "weight_names");
            return;
        }
        default: {  // a group where a layer or a weight might be expected
            const handle created(
                H5Gcreate2(file, rooted(random_name(rng, o, "/")).c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT),
                H5Gclose);
        }
    }
}

// Whether HDF5 reads every object header of `image` back. libhdf5 1.10.8's H5Fget_file_image
// of a file in the newest format opened for writing gives an image whose root object header
// fails its checksum (even with no edit); such images are dropped rather than fed to the
// reader, which would only test HDF5's error path. Checksums are checked before anything
// is decoded, so this never has HDF5 decode damaged metadata.
// Each file image gets its own name: HDF5 takes a file left open by a failed load (it leaks
// them) for the same file as a new one of the same name.
std::string image_name() {
    static unsigned count = 0;
    return "fuzz-image-" + std::to_string(count++);
}

bool loads(const std::vector<std::uint8_t>& image) {
    const handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(fapl.get(), 64 * 1024, false);
    H5Pset_file_image(fapl.get(), const_cast<std::uint8_t*>(image.data()), image.size());
    const handle file(H5Fopen(image_name().c_str(), H5F_ACC_RDONLY, fapl.get()), H5Fclose);
    return file &&
           H5Ovisit2(
               file.get(), H5_INDEX_NAME, H5_ITER_INC,
               [](hid_t, const char*, const H5O_info_t*, void*) -> herr_t { return 0; }, nullptr, H5O_INFO_BASIC) >= 0;
}

// The input, edited through HDF5; an input that is not an HDF5 file (there are none in
// the corpus) starts over from an empty file.
std::optional<std::vector<std::uint8_t>> mutate_image(std::span<const std::uint8_t> input, rng_t& rng) {
    const npyflow::hdf5::quiet_errors quiet;
    const handle fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
    H5Pset_fapl_core(fapl.get(), 64 * 1024, false);
    handle file;
    if (!input.empty()) {
        H5Pset_file_image(fapl.get(), const_cast<std::uint8_t*>(input.data()), input.size());
        file = handle(H5Fopen(image_name().c_str(), H5F_ACC_RDWR, fapl.get()), H5Fclose);
    }
    if (!file) {
        const handle fresh(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
        H5Pset_fapl_core(fresh.get(), 64 * 1024, false);
        file = handle(H5Fcreate(image_name().c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fresh.get()), H5Fclose);
    }
    if (!file) return std::nullopt;
    for (unsigned edits = 1 + pick(rng, 3); edits > 0; --edits)
        edit(file.get(), rng);
    if (H5Fflush(file.get(), H5F_SCOPE_GLOBAL) < 0) return std::nullopt;
    const ssize_t size = H5Fget_file_image(file.get(), nullptr, 0);
    if (size <= 0) return std::nullopt;
    std::vector<std::uint8_t> image(static_cast<std::size_t>(size));
    if (H5Fget_file_image(file.get(), image.data(), image.size()) != size) return std::nullopt;
    if (!loads(image)) return std::nullopt;
    return image;
}

bool raw_mode() {
    static const bool raw = std::getenv("NPYFLOW_FUZZ_H5_RAW") != nullptr;
    return raw;
}

}  // namespace

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size, std::size_t max_size,
                                               unsigned int seed) {
    if (raw_mode()) return LLVMFuzzerMutate(data, size, max_size);
    rng_t rng(seed);
    const auto image = mutate_image({data, size}, rng);
    if (!image || image->size() > max_size) return size;  // unchanged: still a valid input
    std::memcpy(data, image->data(), image->size());
    return image->size();
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto bytes = std::as_bytes(std::span(data, size));
    try {
        (void)npyflow::read_keras_h5(bytes, "fuzz.h5");
    } catch (const npyflow::error&) {
    }
    return 0;
}
