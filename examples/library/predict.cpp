// Scores samples a program already holds in memory: load a model (spec + weights), predict.
// Here the samples are 28x28 uint8 images made up on the spot; the spec's preprocess ops
// (cast, scale, normalize) turn them into what the network takes, as in `npyflow score`.
//
// usage: predict SPEC WEIGHTS [IMAGES.npy]   (also saves the images, for a check against npyflow score)
#include <cstdint>
#include <cstdio>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <npyflow/npyflow.hpp>

int main(int argc, char** argv) try {
    if (argc != 3 && argc != 4) {
        fmt::print(stderr, "usage: predict SPEC WEIGHTS [IMAGES.npy]\n");
        return 2;
    }
    const npyflow::model model(argv[1], argv[2]);
    for (const auto& warning : model.warnings()) fmt::print(stderr, "warning: {}\n", warning);

    constexpr std::uint64_t images = 4;
    std::vector<std::uint8_t> pixels(images * 28 * 28);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>((i * 7 + i / 28) % 256);

    if (argc == 4) {
        npyflow::npy_writer saved(argv[3], npyflow::dtype::uint8, {images, 28, 28});
        saved.write_rows(0, std::as_bytes(std::span(pixels)));
        saved.commit();
    }

    const auto outputs = model.predict(std::as_bytes(std::span(pixels)), {npyflow::dtype::uint8, {28, 28}});
    const auto classes = model.classes(outputs);
    fmt::print("npyflow {}: {} images, {} outputs each; classes: {}\n", npyflow::version(), images,
               model.output_shape().back(), fmt::join(classes, " "));
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "predict: {}\n", e.what());
    return 1;
}
