#include "nn/weight_source.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "io/error.hpp"
#include "io/npz_archive.hpp"

namespace npyflow {

weight_source::weight_source(const std::filesystem::path& path) : where_(path.string()) {
    std::error_code ec;
    if (std::filesystem::is_directory(path, ec)) {
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
    if (path.extension() == ".npy") {
        flat_ = std::make_unique<npy_array>(open_npy(path));
        if (flat_->header().shape.size() != 1) {
            throw error(fmt::format("{}: a single .npy of weights must be a flat 1-D vector, got shape {}", where_,
                                    format_shape(flat_->header().shape)));
        }
        return;
    }
    archive_ = std::make_unique<npz_archive>(path);
    for (const auto& m : archive_->members()) names_.push_back(m.key);
}

weight_source::weight_source(std::span<const std::byte> npz_bytes, std::string where)
    : where_(std::move(where)), archive_(std::make_unique<npz_archive>(npz_bytes, nullptr, where_)) {
    for (const auto& m : archive_->members()) names_.push_back(m.key);
}

weight_source::~weight_source() = default;
weight_source::weight_source(weight_source&&) noexcept = default;

npy_array weight_source::load(const std::string& name) const {
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
