// Writes a dataset .npy in blocks of rows and a weights .npz, then reads both back:
// the io calls a program built on npyflow makes.
//
// usage: write_and_read OUTDIR
#include <cstdio>
#include <filesystem>
#include <vector>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/io/npz_archive.hpp"
#include "npyflow/io/npz_writer.hpp"

int main(int argc, char** argv) try {
    const std::filesystem::path dir = argc > 1 ? argv[1] : ".";
    constexpr std::uint64_t rows = 37, cols = 29, block = 10;

    // The dataset: value(r, c) = r * cols + c, written block by block as a pipeline would,
    // under a temporary name until commit().
    npyflow::npy_writer dataset(dir / "example.npy", npyflow::dtype::float32, {rows, cols});
    for (std::uint64_t first = 0; first < rows; first += block) {
        const std::uint64_t count = std::min(block, rows - first);
        std::vector<float> values(count * cols);
        for (std::uint64_t i = 0; i < values.size(); ++i) values[i] = static_cast<float>(first * cols + i);
        dataset.write_rows(first, std::as_bytes(std::span(values)));
    }
    dataset.commit();

    // Weights named as a PyTorch state_dict names them: Linear(29, 4) as (out, in). Deflated,
    // with zip64 records as numpy itself writes them.
    std::vector<float> weight(4 * cols), bias{0.5f, -0.5f, 1.0f, 0.0f};
    for (std::size_t i = 0; i < weight.size(); ++i) weight[i] = static_cast<float>(i) / 100.0f;
    npyflow::npz_writer weights(dir / "example_weights.npz", npyflow::npz_writer::compression::deflated,
                                /*force_zip64=*/true);
    weights.add("0.weight", npyflow::dtype::float32, {4, cols}, std::as_bytes(std::span(weight)));
    weights.add("0.bias", npyflow::dtype::float32, {4}, std::as_bytes(std::span(bias)));
    weights.commit();

    // Reading back: rows are views into the mapping when no conversion is needed.
    const auto data = npyflow::open_npy(dir / "example.npy");
    const auto last = data.row_view(rows - 1, 1);
    const npyflow::npz_archive archive(dir / "example_weights.npz");
    const auto w = archive.load(*archive.find("0.weight"));
    fmt::print("{}: {} rows of {} bytes, last row starts with {}\n", data.where(), data.rows(), data.row_bytes(),
               *reinterpret_cast<const float*>(last.data()));
    fmt::print("{}: {} members, 0.weight is {} {}\n", archive.name(), archive.members().size(),
               npyflow::format_shape(w.header().shape), npyflow::name(w.header().type));
    return 0;
} catch (const npyflow::error& e) {
    std::fprintf(stderr, "write_and_read: error: %s\n", e.what());
    return 1;
}
