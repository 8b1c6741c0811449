#include "npyflow/nn/model_summary.hpp"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "npyflow/io/npy_header.hpp"

namespace npyflow {
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

model_summary::model_summary(const bound_model& model) : layer_count_(model.layers.size()) {
    layers_ = fmt::format("{:<40} {:<20} {:<18} {:>12}\n", "layer (type \"name\")", "input", "output", "params");
    for (const auto& l : model.layers) {
        std::uint64_t params = 0;
        for (const auto& r : l.reads) params += values_of(r.shape);
        parameters_ += params;
        layers_ += fmt::format("{:<40} {:<20} {:<18} {:>12}\n", l.spec.where(), shapes_text(l.in), format_shape(l.out),
                               params);
        for (const auto& r : l.reads) {
            layers_ += fmt::format("    {:<12} <- '{}' {} {}{}\n", r.role, r.source, format_shape(r.shape), r.dtype,
                                   l.layout != model.layout ? fmt::format(" ({} layout)", name(l.layout)) : "");
        }
    }
}

std::string model_summary::text(const network& net) const {
    return layers_ + fmt::format("total: {} layers, {} parameters ({:.3g} MB as float32), {:.3g} MFLOP a sample; "
                                 "runs as [{}]\n",
                                 layer_count_, parameters_, static_cast<double>(parameters_) * 4 / 1e6,
                                 net.flops_per_sample() / 1e6, net.describe());
}

}  // namespace npyflow
