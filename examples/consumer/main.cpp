// Built against the installed headers and libraries only: a model loaded and run.
#include <cstdio>
#include <vector>

#include <fmt/format.h>

#include <npyflow/npyflow.hpp>

int main(int argc, char** argv) try {
    if (argc != 3) return fmt::print(stderr, "usage: consumer SPEC WEIGHTS\n"), 2;
    const npyflow::model model(argv[1], argv[2]);
    const std::vector<float> image(28 * 28, 0.5f);
    const auto outputs = model.predict(std::as_bytes(std::span(image)), {npyflow::dtype::float32, {28, 28}});
    fmt::print("consumer: npyflow {}, {} outputs, class {}\n", npyflow::version(), outputs.size(),
               model.classes(outputs).front());
    return 0;
} catch (const std::exception& e) {
    fmt::print(stderr, "consumer: {}\n", e.what());
    return 1;
}
