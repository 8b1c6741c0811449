// npyflow spec: writes a model spec for the user, from a Keras model's config (--from-keras)
// or proposed from a weights file's names and shapes (--draft), to check with
// `npyflow score --dry-run` before it is used.

#include <unistd.h>

#include <charconv>
#include <cstdio>

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "npyflow/job/job_paths.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/json_file.hpp"
#include "npyflow/io/keras_h5.hpp"
#include "npyflow/io/partial_file.hpp"
#include "npyflow/nn/keras_config.hpp"
#include "npyflow/nn/spec_draft.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow::cli {
namespace {

struct spec_options {
    std::filesystem::path from_keras, draft, output;
    std::string input_shape, weights_key;
};

// "3,32,32" -> (3, 32, 32).
std::optional<std::vector<std::uint64_t>> parse_shape(const std::string& text) {
    if (text.empty()) return std::nullopt;
    std::vector<std::uint64_t> shape;
    std::size_t at = 0;
    while (at <= text.size()) {
        const auto comma = std::min(text.find(',', at), text.size());
        const std::string part = text.substr(at, comma - at);
        std::uint64_t d = 0;
        const auto [end, ec] = std::from_chars(part.data(), part.data() + part.size(), d);
        if (part.empty() || ec != std::errc{} || end != part.data() + part.size() || d == 0) {
            throw error(fmt::format("--input-shape: '{}' is not a list of positive sizes such as 3,32,32 (one sample, "
                                    "without the rows)",
                                    text));
        }
        shape.push_back(d);
        at = comma + 1;
    }
    return shape;
}

// The Keras model's config: a model.to_json() file, or the one a full-model .h5 holds.
nlohmann::json keras_config(const std::filesystem::path& path) {
    const file_format format = sniff_file(path);
    if (format == file_format::hdf5) {
        const auto contents = read_keras_h5(path);
        if (!contents.model_config) {
            throw error(fmt::format("{}: holds weights only (model.save_weights); the architecture is in a full-model "
                                    ".h5 (model.save) or in model.to_json()",
                                    printable_path(path)));
        }
        try {
            return nlohmann::json::parse(*contents.model_config);
        } catch (const nlohmann::json::exception& e) {
            throw error(fmt::format("{}: its model_config is not valid JSON: {}", printable_path(path), e.what()));
        }
    }
    if (format != file_format::json) {
        throw error(fmt::format("{}: is {}, not a Keras model config (model.to_json()) or a full-model .h5",
                                printable_path(path), describe(format)));
    }
    return read_json_file(path, "Keras model config");
}

spec_draft draft_from(const std::filesystem::path& path, const std::string& key,
                      const std::optional<std::vector<std::uint64_t>>& input_shape) {
    const weight_source weights(path, key);
    if (weights.flat()) {
        throw error(fmt::format("{}: a flat vector has no names or shapes to draft a spec from; write the spec by "
                                "hand (docs/model-spec.md)",
                                weights.where()));
    }
    std::vector<std::pair<std::string, std::vector<std::uint64_t>>> arrays;
    for (const auto& name : weights.names()) arrays.emplace_back(name, weights.load(name).header().shape);
    return draft_spec(arrays, input_shape);
}

int run_spec(const spec_options& o) {
    if (o.from_keras.empty() == o.draft.empty()) throw error("give one of --from-keras FILE or --draft WEIGHTS");
    const auto input_shape = parse_shape(o.input_shape);
    if (!o.output.empty()) {
        job_paths paths;
        paths.reads(o.draft.empty() ? "--from-keras" : "--draft", o.draft.empty() ? o.from_keras : o.draft, true);
        paths.writes("-o", o.output);
        paths.writes("-o", partial_file::partial_path_for(o.output), true);
        paths.check();
    }
    nlohmann::json spec;
    std::vector<std::string> notes;
    if (!o.from_keras.empty()) {
        spec = with_context(printable_path(o.from_keras), [&] { return spec_from_keras(keras_config(o.from_keras), input_shape); });
    } else {
        auto draft = draft_from(o.draft, o.weights_key, input_shape);
        spec = std::move(draft.spec);
        notes = std::move(draft.notes);
    }
    const std::string text = spec.dump(2) + "\n";
    if (o.output.empty()) {
        fmt::print("{}", text);
    } else {
        partial_file out(o.output);
        out.write_at(0, std::as_bytes(std::span(text)));
        out.commit();
    }
    for (const auto& n : notes) fmt::print(stderr, "npyflow: check: {}\n", n);
    fmt::print(stderr, "npyflow: {} spec with {} layers{}{}; check it with npyflow score --dry-run\n",
               o.from_keras.empty() ? "drafted a" : "wrote the", spec["layers"].size(),
               o.output.empty() ? "" : " to " + printable_path(o.output),
               notes.empty() ? "" : fmt::format(" ({} guesses to check, above)", notes.size()));
    return 0;
}

}  // namespace

void add_spec_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<spec_options>();
    auto* cmd = app.add_subcommand("spec",
                                   "Write a model spec: from a Keras model's config (--from-keras), or drafted from a "
                                   "weights file's array names and shapes (--draft), every guess listed");
    cmd->add_option("--from-keras", o->from_keras,
                    "A Keras model config: model.to_json()'s file, or a full-model .h5 (model.save)")
        ->check(CLI::ExistingFile);
    cmd->add_option("--draft", o->draft, "Weights to draft a spec from (any --weights form: .npz, .pth, .h5, ...)")
        ->check(CLI::ExistingPath);
    cmd->add_option("--input-shape", o->input_shape,
                    "One sample's shape without the rows, e.g. 3,32,32: where the config or weights leave it open");
    cmd->add_option("--weights-key", o->weights_key, "With --draft: the key of the weights in a checkpoint's dict");
    cmd->add_option("-o", o->output, "Where to write the spec (JSON); standard output without it");
    cmd->callback([&run, o] { run = [o] { return run_spec(*o); }; });
}

}  // namespace npyflow::cli
