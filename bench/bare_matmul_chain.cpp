// The MLP benchmark's compute done with nothing but oneDNN: matmuls 784-512-256-10 with ReLU
// post-ops, on one batch of random inputs held in memory, each thread running its own
// single-threaded stream over its share of the batches, as npyflow does. Prints rows/s.
//
// usage: bare_matmul_chain ROWS BATCH THREADS
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>
#include <unordered_map>
#include <vector>

#include <dnnl.hpp>

extern "C" void omp_set_num_threads(int);

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: bare_matmul_chain ROWS BATCH THREADS\n");
        return 2;
    }
    const long rows = std::atol(argv[1]), batch = std::atol(argv[2]);
    const int threads = std::atoi(argv[3]);
    const long sizes[] = {784, 512, 256, 10};
    using tag = dnnl::memory::format_tag;
    using dt = dnnl::memory::data_type;

    auto worker = [&](long batches, double* seconds) {
        omp_set_num_threads(1);
        dnnl::engine eng(dnnl::engine::kind::cpu, 0);
        dnnl::stream stream(eng);
        std::vector<dnnl::primitive> prims;
        std::vector<std::unordered_map<int, dnnl::memory>> args;
        dnnl::memory src({{batch, sizes[0]}, dt::f32, tag::ab}, eng);
        std::vector<float> init(static_cast<size_t>(batch * sizes[0]), 0.5f);
        std::copy(init.begin(), init.end(), static_cast<float*>(src.get_data_handle()));
        dnnl::memory cur = src;
        for (int l = 0; l < 3; ++l) {
            const dnnl::memory::desc w_any({sizes[l], sizes[l + 1]}, dt::f32, tag::any);
            const dnnl::memory::desc bias({1, sizes[l + 1]}, dt::f32, tag::ab);
            const dnnl::memory::desc dst({batch, sizes[l + 1]}, dt::f32, tag::ab);
            dnnl::post_ops ops;
            if (l < 2) ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
            dnnl::primitive_attr attr;
            attr.set_post_ops(ops);
            const dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(cur.get_desc(), w_any, bias, dst), attr, eng);
            dnnl::memory w(pd.weights_desc(), eng), b(bias, eng), out(dst, eng);
            std::fill_n(static_cast<float*>(w.get_data_handle()), pd.weights_desc().get_size() / 4, 0.01f);
            std::fill_n(static_cast<float*>(b.get_data_handle()), sizes[l + 1], 0.0f);
            prims.push_back(dnnl::matmul(pd));
            args.push_back({{DNNL_ARG_SRC, cur}, {DNNL_ARG_WEIGHTS, w}, {DNNL_ARG_BIAS, b}, {DNNL_ARG_DST, out}});
            cur = out;
        }
        const auto start = std::chrono::steady_clock::now();
        for (long i = 0; i < batches; ++i) {
            for (size_t p = 0; p < prims.size(); ++p) prims[p].execute(stream, args[p]);
            stream.wait();
        }
        *seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const long total_batches = (rows + batch - 1) / batch;
    std::vector<std::thread> pool;
    std::vector<double> seconds(static_cast<size_t>(threads), 0.0);
    for (int t = 0; t < threads; ++t) {
        const long share = total_batches / threads + (t < total_batches % threads ? 1 : 0);
        pool.emplace_back(worker, share, &seconds[static_cast<size_t>(t)]);
    }
    for (auto& th : pool) th.join();
    double slowest = 0;
    for (double s : seconds) slowest = std::max(slowest, s);
    std::printf("{\"rows\": %ld, \"batch\": %ld, \"threads\": %d, \"seconds\": %.6f, \"rows_per_s\": %.1f}\n",
                total_batches * batch, batch, threads, slowest, static_cast<double>(total_batches * batch) / slowest);
    return 0;
}
