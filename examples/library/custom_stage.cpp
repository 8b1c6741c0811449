// A pipeline of the library's stages and one of the program's own: the rows of an .npy are
// read (memory-mapped, in batches), scaled by the library's preprocess stage, and reduced by
// a stage written here to one float64 per row (the sum of its values, in order), then
// written in input order to an .npy, whatever the number of threads.
//
// usage: custom_stage IN.npy OUT.npy
#include <cstdio>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <npyflow/npyflow.hpp>

int main(int argc, char** argv) try {
    if (argc != 3) return fmt::print(stderr, "usage: custom_stage IN.npy OUT.npy\n"), 2;
    const npyflow::dataset input({argv[1]});
    // The library's ops, as a spec's "preprocess" list would give them.
    const npyflow::preprocess_plan plan(
        npyflow::parse_ops(nlohmann::json::parse(R"([{"op": "cast", "dtype": "float32"},
                                                     {"op": "scale", "factor": 0.5}])")),
        {input.type(), input.row_shape()});

    // The program's own stage: it runs on many batches at once, each in its own buffers.
    const npyflow::stage row_sums{"row_sums", [](npyflow::batch& b) {
        const auto values = b.sample.elements();
        auto& out = b.spare_scratch();  // the buffer the batch's data is not in
        out.resize(b.rows * sizeof(double));
        for (std::uint64_t r = 0; r < b.rows; ++r) {
            double sum = 0;
            for (std::uint64_t i = 0; i < values; ++i) {
                float v;
                std::memcpy(&v, b.data.data() + (r * values + i) * sizeof(float), sizeof(float));
                sum += v;
            }
            std::memcpy(out.data() + r * sizeof(double), &sum, sizeof(double));
        }
        b.data = out;
        b.sample = {npyflow::dtype::float64, {}};
    }};

    npyflow::npy_writer output(argv[2], npyflow::dtype::float64, {input.rows()});
    npyflow::pipeline_options options;
    options.batch_rows = 8;
    const auto report = npyflow::run_pipeline(
        input, {npyflow::preprocess_stage(plan), row_sums},
        [&](const npyflow::batch& b) { output.write_rows(b.first_row, b.data); }, options);
    output.commit();  // renamed into place only now, complete
    fmt::print("{} rows in {} batches on {} threads; wrote {}\n", report.rows, report.batches, report.threads, argv[2]);
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "custom_stage: {}\n", e.what());
    return 1;
}
