#pragma once
// Helpers for the nn tests: weights written as a directory of .npy files, specs from JSON
// text, and a network run on a few rows.

#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "npyflow/io/npy_header.hpp"
#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow::test {

struct array {
    std::vector<std::uint64_t> shape;
    std::vector<float> values;
};

// name -> array, saved as <dir>/<name>.npy ("lstm/kernel" in a subdirectory, as Keras names go).
inline void save_weights(const std::filesystem::path& dir, const std::map<std::string, array>& arrays) {
    for (const auto& [name, a] : arrays) {
        const auto path = dir / (name + ".npy");
        std::filesystem::create_directories(path.parent_path());
        std::ofstream out(path, std::ios::binary);
        const std::string header = format_npy_header(dtype::float32, a.shape);
        out.write(header.data(), static_cast<std::streamsize>(header.size()));
        out.write(reinterpret_cast<const char*>(a.values.data()), static_cast<std::streamsize>(a.values.size() * 4));
    }
}

inline model_spec spec_of(const std::string& json_text) { return parse_model_spec(nlohmann::json::parse(json_text)); }

inline std::vector<float> run_network(const model_spec& spec, const std::filesystem::path& weights,
                                      const std::vector<float>& input, std::size_t rows) {
    const network net(bind_parameters(spec, weight_source(weights), false));
    std::vector<float> out(rows * net.output_values());
    net.run(input, rows, out);
    return out;
}

}  // namespace npyflow::test
