#include "npyflow/nn/weight_source.hpp"

#include <algorithm>
#include <set>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/keras_h5.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/io/pickled_arrays.hpp"
#include "npyflow/io/pickled_arrays.hpp"
#include "npyflow/io/pickled_npy.hpp"
#include "npyflow/io/torch_checkpoint.hpp"

namespace npyflow {
namespace {

// A zip is a PyTorch checkpoint when it holds <prefix>/data.pkl; an .npz holds only .npy members.
// A zip too damaged to list is left to the .npz reader, whose errors say what is wrong.
bool is_torch_zip(std::span<const std::byte> bytes) {
    try {
        for (const auto& m : parse_zip_members(bytes)) {
            if (m.file_name == "data.pkl" || m.file_name.ends_with("/data.pkl")) return true;
        }
    } catch (const error&) {
    }
    return false;
}

// Protocol 0 and 1 pickles have no header to tell them by; their names do.
bool named_as_pickle(const std::filesystem::path& path) {
    const auto ext = path.extension();
    return ext == ".pkl" || ext == ".pickle" || ext == ".pth" || ext == ".pt";
}

}  // namespace

weight_source::weight_source(const std::filesystem::path& path, std::string_view key) : where_(path.string()) {
    std::error_code ec;
    const bool directory = std::filesystem::is_directory(path, ec);
    const file_format format = directory ? file_format::unknown : sniff_file(path);
    const bool keyed = format == file_format::pickle || format == file_format::zip || format == file_format::npy ||
                       format == file_format::tar || (format == file_format::unknown && named_as_pickle(path));
    if (!key.empty() && !keyed) {
        throw error(fmt::format("{}: --weights-key selects arrays inside a pickle or a PyTorch checkpoint; this is {}",
                                where_, directory ? "a directory" : describe(format)));
    }
    if (directory) {
        format_ = "a directory of .npy files";
        directory_ = path;
        for (const auto& entry : std::filesystem::recursive_directory_iterator(path)) {
            if (!entry.is_regular_file() || entry.path().extension() != ".npy") continue;
            auto rel = std::filesystem::relative(entry.path(), path).generic_string();
            names_.push_back(rel.substr(0, rel.size() - 4));
        }
        std::sort(names_.begin(), names_.end());
        if (names_.empty()) throw error(fmt::format("{}: no .npy files in this directory", where_));
        return;
    }
    switch (format) {
        case file_format::hdf5:
            format_ = "a Keras HDF5 file";
            implied_ = weight_layout::keras;
            hold(read_keras_h5(path).arrays);
            return;
        case file_format::pickle: {
            format_ = "a pickle";
            const mapped_file file(path);
            hold(read_torch_checkpoint(file.bytes(), key, where_));  // a plain pickle, or an old checkpoint's refusal
            return;
        }
        case file_format::tar: {
            const mapped_file file(path);
            (void)read_torch_checkpoint(file.bytes(), key, where_);  // says what to do with an old checkpoint
            throw error(fmt::format("{}: is {}, not weights npyflow reads", where_, describe(format)));
        }
        case file_format::json:
            throw error(fmt::format("{}: is a JSON file, not weights; a Keras model config (model.to_json()) holds "
                                    "the architecture: make a spec of it with npyflow spec --from-keras, and give the "
                                    "weights (.h5) as --weights",
                                    where_));
        case file_format::npy: {
            const auto file = std::make_shared<const mapped_file>(path);
            if (is_object_npy(file->bytes())) {
                format_ = "a pickled .npy";
                try {
                    hold(read_pickled_npy(file->bytes(), key, where_));
                } catch (const error& e) {  // says what kind of .npy it is: a dataset saved as objects, say
                    std::string what = e.what();
                    if (what.starts_with(where_ + ": ")) what = what.substr(where_.size() + 2);
                    throw error(fmt::format("{}: dtype object (pickled Python objects), read as weights: {}", where_, what));
                }
                return;
            }
            if (!key.empty()) throw error(fmt::format("{}: --weights-key selects arrays inside a pickled .npy; this is a numeric .npy", where_));
            format_ = "a flat weight vector";
            flat_ = std::make_unique<npy_array>(parse_npy(file->bytes(), file, where_));
            if (flat_->header().shape.size() != 1) {
                throw error(fmt::format("{}: a single .npy of weights must be a flat 1-D vector, got shape {}", where_,
                                        format_shape(flat_->header().shape)));
            }
            return;
        }
        case file_format::zip: {
            auto file = std::make_shared<const mapped_file>(path);
            if (is_torch_zip(file->bytes())) {
                format_ = "a PyTorch checkpoint";
                implied_ = weight_layout::torch;
                hold(read_torch_checkpoint(file->bytes(), key, where_));
                return;
            }
            if (!key.empty()) throw error(fmt::format("{}: --weights-key selects arrays inside a pickle or a PyTorch checkpoint; this is an .npz archive", where_));
            format_ = "an .npz archive";
            archive_ = std::make_unique<npz_archive>(path);
            break;
        }
        case file_format::unknown:
            if (!directory && named_as_pickle(path)) {
                format_ = "a pickle";
                const mapped_file file(path);
                hold(read_pickle(file.bytes(), key, where_));
                return;
            }
            format_ = "an .npz archive";
            archive_ = std::make_unique<npz_archive>(path);  // says what is wrong with it
            break;
    }
    for (const auto& m : archive_->members()) names_.push_back(m.key);
}

weight_source::weight_source(std::span<const std::byte> npz_bytes, std::string where)
    : where_(std::move(where)), format_("an .npz archive"),
      archive_(std::make_unique<npz_archive>(npz_bytes, nullptr, where_)) {
    for (const auto& m : archive_->members()) names_.push_back(m.key);
}

weight_source::~weight_source() = default;
weight_source::weight_source(weight_source&&) noexcept = default;

void weight_source::hold(std::vector<named_array> arrays) {
    std::set<std::string> seen;
    for (const auto& a : arrays) {
        if (!seen.insert(a.name).second) throw error(fmt::format("{}: holds two arrays named '{}'", where_, a.name));
        names_.push_back(a.name);
    }
    if (names_.empty()) throw error(fmt::format("{}: holds no arrays", where_));
    held_ = std::move(arrays);
}

npy_array weight_source::load(const std::string& name) const {
    if (!held_.empty()) {
        const auto it = std::find_if(held_.begin(), held_.end(), [&](const named_array& a) { return a.name == name; });
        if (it == held_.end()) throw error(fmt::format("{}: no array '{}'", where_, name));
        return it->array;
    }
    if (archive_) return archive_->load(*archive_->find(name));
    return open_npy(directory_ / (name + ".npy"));
}

bool weight_source::positional() const {
    if (names_.empty()) return false;
    for (std::size_t i = 0; i < names_.size(); ++i) {
        if (std::find(names_.begin(), names_.end(), fmt::format("arr_{}", i)) == names_.end()) return false;
    }
    return true;
}

}  // namespace npyflow
