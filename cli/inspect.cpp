// npyflow inspect: lists every array in .npy and .npz files and weights, optionally with
// statistics (nn/array_listing.hpp), as text or JSON.

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/commands.hpp"
#include "cli/launched_ranks.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/nn/array_listing.hpp"

namespace npyflow::cli {
namespace {

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
