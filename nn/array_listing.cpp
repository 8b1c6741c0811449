#include "npyflow/nn/array_listing.hpp"

#include <algorithm>
#include <cstring>
#include <memory>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow {
namespace {

constexpr std::size_t stats_chunk_bytes = 16 << 20;  // a multiple of every item size

bool looks_like_zip(const mapped_file& file) {
    const auto bytes = file.bytes();
    if (bytes.size() >= 2 && std::memcmp(bytes.data(), "PK", 2) == 0) return true;
    const bool npy_magic = bytes.size() >= 6 && std::memcmp(bytes.data(), "\x93NUMPY", 6) == 0;
    return !npy_magic && file.path().extension() == ".npz";
}

array_stats npy_stats(const mapped_file& file, const npy_array& array) {
    array_stats_accumulator acc(array.header().type, array.header().order);
    const auto data = array.raw_data();
    const std::uint64_t base = array.header().data_offset;
    for (std::size_t at = 0; at < data.size(); at += stats_chunk_bytes) {
        const std::size_t n = std::min(stats_chunk_bytes, data.size() - at);
        file.will_need(base + at + n, stats_chunk_bytes);
        acc.add(data.subspan(at, n));
        file.dont_need(base + at, n);  // keeps resident memory flat on files larger than RAM
    }
    return acc.result();
}

array_stats member_stats(const npz_archive& archive, const npz_member& member, const npy_header& header) {
    array_stats_accumulator acc(header.type, header.order);
    auto reader = archive.open(member);
    std::vector<std::byte> buffer(stats_chunk_bytes);
    reader.read(std::span(buffer).first(header.data_offset));  // skip the header
    for (std::size_t n; (n = reader.read(buffer)) > 0;) acc.add(std::span(buffer).first(n));
    return acc.result();
}

// Weights in a format read whole (a checkpoint, an .h5, a pickle): listed as --weights sees them.
bool read_as_weights(const mapped_file& file) {
    const auto bytes = file.bytes();
    switch (sniff_format(bytes.first(std::min(bytes.size(), format_prefix_bytes)))) {
        case file_format::hdf5:
        case file_format::pickle:
        case file_format::tar: return true;
        case file_format::npy: return is_object_npy(bytes);
        case file_format::zip:
            try {
                for (const auto& m : parse_zip_members(bytes)) {
                    if (m.file_name.ends_with("data.pkl")) return true;
                }
            } catch (const error&) {  // a damaged .npz: its reader says what is wrong
            }
            return false;
        default: return false;
    }
}

file_report inspect_weights(const std::string& path, bool with_stats, const std::string& key) {
    const weight_source weights(path, key);
    file_report report{path, weights.format_name(), {}};
    for (const auto& name : weights.names()) {
        const npy_array a = weights.load(name);
        report.arrays.push_back({name, a.header(), std::nullopt});
        if (with_stats) {
            array_stats_accumulator acc(a.header().type, a.header().order);
            acc.add(a.raw_data());
            report.arrays.back().stats = acc.result();
        }
    }
    return report;
}

}  // namespace

file_report inspect_file(const std::string& path, bool with_stats, const std::string& key) {
    file_report report{path, "", {}};
    auto file = std::make_shared<const mapped_file>(path);
    if (read_as_weights(*file) || !key.empty()) return inspect_weights(path, with_stats, key);
    if (!looks_like_zip(*file)) {
        const npy_array array = parse_npy(file->bytes(), file, path);
        report.arrays.push_back({"", array.header(), std::nullopt});
        if (with_stats) report.arrays.back().stats = npy_stats(*file, array);
        return report;
    }
    const npz_archive archive(file->bytes(), file, path);
    for (const auto& member : archive.members()) {
        array_report a{member.key, archive.read_header(member), std::nullopt};
        if (with_stats) a.stats = with_context(archive.where(member), [&] { return member_stats(archive, member, a.header); });
        report.arrays.push_back(std::move(a));
    }
    return report;
}

}  // namespace npyflow
