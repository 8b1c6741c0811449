#include "cli/model_summary.hpp"

#include <fmt/format.h>

#include "npyflow/io/npy_header.hpp"

namespace npyflow::cli {
namespace {

std::uint64_t values_of(const std::vector<std::uint64_t>& shape) {
    std::uint64_t n = 1;
    for (auto d : shape) n *= d;
    return n;
}

std::string shapes_text(const std::vector<tensor_shape>& shapes) {
    std::vector<std::string> parts;
    for (const auto& s : shapes) parts.push_back(format_shape(s));
    return fmt::format("{}", fmt::join(parts, " "));
}

}  // namespace

std::string format_model_summary(const bound_model& model, const network& net) {
    std::string out = fmt::format("{:<40} {:<20} {:<18} {:>12}\n", "layer (type \"name\")", "input", "output", "params");
    std::uint64_t total = 0;
    for (const auto& l : model.layers) {
        std::uint64_t params = 0;
        for (const auto& r : l.reads) params += values_of(r.shape);
        total += params;
        out += fmt::format("{:<40} {:<20} {:<18} {:>12}\n", l.spec.where(), shapes_text(l.in), format_shape(l.out), params);
        for (const auto& r : l.reads) {
            out += fmt::format("    {:<12} <- '{}' {} {}{}\n", r.role, r.source, format_shape(r.shape), r.dtype,
                               l.layout != model.layout ? fmt::format(" ({} layout)", name(l.layout)) : "");
        }
    }
    out += fmt::format("total: {} layers, {} parameters ({:.3g} MB as float32), {:.3g} MFLOP a sample; runs as [{}]\n",
                       model.layers.size(), total, static_cast<double>(total) * 4 / 1e6, net.flops_per_sample() / 1e6,
                       net.describe());
    return out;
}

}  // namespace npyflow::cli
