// npyflow inspect: lists every array in .npy and .npz files, optionally with statistics.
// Without --stats only headers are read: O(1) for a .npy of any size, and a deflated
// member is inflated only as far as its header.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/launched_ranks.hpp"
#include "npyflow/io/array_stats.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow::cli {
namespace {

struct array_report {
    std::string name;  // "" for a plain .npy, the member key for an .npz
    npy_header header;
    std::optional<array_stats> stats;
};

struct file_report {
    std::string path;
    std::string format;  // for weights read whole: "a PyTorch checkpoint", ...
    std::vector<array_report> arrays;
};

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

// JSON has no inf or NaN: those are written as the strings numpy prints.
nlohmann::ordered_json json_number(std::optional<double> v) {
    if (!v) return nullptr;
    if (std::isnan(*v)) return "nan";
    if (std::isinf(*v)) return *v > 0 ? "inf" : "-inf";
    return *v;
}

nlohmann::ordered_json to_json(const std::vector<file_report>& reports) {
    auto files = nlohmann::ordered_json::array();
    for (const auto& f : reports) {
        auto arrays = nlohmann::ordered_json::array();
        for (const auto& a : f.arrays) {
            nlohmann::ordered_json j;
            j["name"] = a.name;
            j["dtype"] = name(a.header.type);
            j["shape"] = a.header.shape;
            j["fortran_order"] = a.header.fortran_order;
            j["byte_order"] = name(a.header.order);
            j["nbytes"] = a.header.data_bytes();
            if (a.stats) {
                j["stats"] = {{"min", json_number(a.stats->min)},
                              {"max", json_number(a.stats->max)},
                              {"mean", json_number(a.stats->mean)},
                              {"nan_count", a.stats->nan_count}};
            }
            arrays.push_back(std::move(j));
        }
        files.push_back({{"path", printable_path(f.path)}, {"arrays", std::move(arrays)}});
    }
    return {{"files", std::move(files)}};
}

std::string human_bytes(std::uint64_t n) {
    constexpr const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = static_cast<double>(n);
    std::size_t u = 0;
    while (v >= 1024 && u + 1 < std::size(units)) {
        v /= 1024;
        ++u;
    }
    return u == 0 ? fmt::format("{} B", n) : fmt::format("{:.1f} {}", v, units[u]);
}

std::string stat_text(std::optional<double> v) { return v ? fmt::format("{:.6g}", *v) : "-"; }

void print_text(const std::vector<file_report>& reports, bool with_stats) {
    for (const auto& f : reports) {
        fmt::print("{}{}\n", f.path, f.format.empty() ? "" : " (" + f.format + ")");
        std::vector<std::vector<std::string>> rows{{"name", "dtype", "shape", "order", "byte order", "size"}};
        if (with_stats) rows[0].insert(rows[0].end(), {"min", "max", "mean", "NaNs"});
        for (const auto& a : f.arrays) {
            rows.push_back({a.name.empty() ? "-" : a.name, std::string(name(a.header.type)),
                            format_shape(a.header.shape), a.header.fortran_order ? "F" : "C",
                            std::string(name(a.header.order)), human_bytes(a.header.data_bytes())});
            if (a.stats) {
                rows.back().insert(rows.back().end(), {stat_text(a.stats->min), stat_text(a.stats->max),
                                                       stat_text(a.stats->mean), std::to_string(a.stats->nan_count)});
            }
        }
        std::vector<std::size_t> width(rows[0].size(), 0);
        for (const auto& r : rows) {
            for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
        }
        for (const auto& r : rows) {
            std::string line = " ";
            for (std::size_t c = 0; c < r.size(); ++c) line += fmt::format(" {:<{}}", r[c], width[c]);
            while (line.back() == ' ') line.pop_back();
            fmt::print("{}\n", line);
        }
    }
}

}  // namespace

void add_inspect_command(CLI::App& app, command_runner& run) {
    struct options {
        std::vector<std::string> paths;
        bool json = false;
        bool stats = false;
        std::string weights_key;
    };
    auto opts = std::make_shared<options>();
    auto* cmd = app.add_subcommand("inspect", "List every array in .npy and .npz files, and in weights (.pth, .h5, pickled .npy): name, dtype, shape, order, size");
    cmd->add_option("PATH", opts->paths, ".npy, .npz, PyTorch checkpoints, Keras .h5 files, pickles")->required();
    cmd->add_flag("--json", opts->json, "Print JSON: {\"files\":[{\"path\":...,\"arrays\":[...]}]}");
    cmd->add_flag("--stats", opts->stats,
                  "Also compute min, max, mean and NaN count in one streaming pass; this reads all data "
                  "and so also verifies every .npz member's CRC-32");
    cmd->add_option("--weights-key", opts->weights_key,
                    "In a pickle or checkpoint: the key of the arrays to list, as score's --weights-key");
    cmd->callback([&run, opts] {
        run = [opts] {
            launched_ranks().require_one_process("inspect");
            std::vector<file_report> reports;
            int status = 0;
            for (const auto& path : opts->paths) {
                try {
                    reports.push_back(inspect_file(path, opts->stats, opts->weights_key));
                } catch (const error& e) {
                    fmt::print(stderr, "npyflow: error: {}\n", e.what());
                    status = 1;
                }
            }
            if (opts->json) {
                // JSON holds UTF-8 only: a member name that is not becomes U+FFFD, not an exception.
                fmt::print("{}\n", to_json(reports).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
            } else {
                print_text(reports, opts->stats);
            }
            return status;
        };
    });
}

}  // namespace npyflow::cli
