// Peak memory of one network run from 1, 2, 4, 8 threads at once: the weights are reordered
// once and shared, so only each thread's activations and scratchpads add to it.
//
//   weight_sharing SPEC WEIGHTS THREADS
//
// Prints the resident set once the weights are bound and after every thread has run the
// network on 256 rows (threads stay alive until all have run), the peak, and the network's
// weight and per-thread activation bytes. Run it once per thread count
// (bench/weight_sharing.py does, in fresh processes) and compare.
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "npyflow/nn/model_spec.hpp"
#include "npyflow/nn/network.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace {

long status_kb(const std::string& key) {
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);) {
        if (line.rfind(key, 0) == 0) return std::stol(line.substr(key.size()));
    }
    return -1;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: weight_sharing SPEC WEIGHTS THREADS\n";
        return 2;
    }
    const auto spec = npyflow::parse_model_spec(nlohmann::json::parse(std::ifstream(argv[1])));
    const npyflow::network net(npyflow::bind_parameters(spec, npyflow::weight_source(argv[2]), false));
    const int threads = std::stoi(argv[3]);
    const long before = status_kb("VmRSS:");
    constexpr std::size_t rows = 256;
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&] {
            std::vector<float> in(rows * net.input_values(), 0.5f), out(rows * net.output_values());
            net.run(in, rows, out);
        });
    }
    for (auto& t : pool) t.join();  // each thread's plan stays in the network after it ends
    fmt::print("{{\"threads\": {}, \"rss_mb_bound\": {:.1f}, \"rss_mb_after_run\": {:.1f}, \"peak_mb\": {:.1f}, "
               "\"weight_mb\": {:.1f}, \"activation_mb_per_thread\": {:.1f}}}\n",
               threads, before / 1024.0, status_kb("VmRSS:") / 1024.0, status_kb("VmHWM:") / 1024.0,
               double(net.weight_bytes()) / 1e6, double(net.activation_bytes()) / 1e6);
}
