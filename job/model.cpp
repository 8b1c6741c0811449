#include "npyflow/job/model.hpp"

#include <algorithm>
#include <atomic>

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_format.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/json_file.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/job/run_job.hpp"
#include "npyflow/nn/model_summary.hpp"
#include "npyflow/nn/param_binding.hpp"
#include "npyflow/ops/op_registry.hpp"

namespace npyflow {

model_spec read_model_spec(const std::filesystem::path& path, const weight_source& weights) {
    if (const file_format format = sniff_file(path); format != file_format::json && format != file_format::unknown) {
        throw error(fmt::format("--model {}: is {}; --model takes the npyflow spec (JSON), --weights the arrays",
                                printable_path(path), describe(format)));
    }
    const auto json = read_json_file(path);
    if (json.is_object() && json.contains("class_name") && json.contains("config")) {
        throw error(fmt::format("--model {}: is a Keras model config, not an npyflow spec; make one with npyflow spec "
                                "--from-keras {} -o spec.json",
                                printable_path(path), printable_path(path)));
    }
    return with_context(printable_path(path), [&] { return parse_model_spec(json, weights.implied_layout()); });
}

namespace {

// The preprocess ops' samples are what the network takes; where not, the hint is one that
// would work: a cast or reshape only when it would make them fit.
void check_network_input(const preprocess_plan& plan, const sample_desc& input, std::uint64_t rows,
                         const model_spec& spec, const std::string& where) {
    const auto& got = plan.output();
    if (got.type == dtype::float32 && got.shape == spec.input_shape) return;
    std::uint64_t have = 1, want = 1;
    for (auto d : got.shape) have *= d;
    for (auto d : spec.input_shape) want *= d;
    std::vector<std::string> fixes;
    if (got.type != dtype::float32) fixes.push_back(R"({"op": "cast", "dtype": "float32"})");
    // The same sizes in another order are most likely the same data in another axis order
    // (channels last for a channels-first network): a transpose fixes that, a reshape would
    // only mix the values up.
    std::vector<std::size_t> axes;
    if (got.shape != spec.input_shape && std::is_permutation(got.shape.begin(), got.shape.end(), spec.input_shape.begin(),
                                                             spec.input_shape.end())) {
        std::vector<bool> taken(got.shape.size(), false);
        for (const auto d : spec.input_shape) {
            std::size_t a = 0;
            while (taken[a] || got.shape[a] != d) ++a;
            taken[a] = true;
            axes.push_back(a);
        }
    }
    if (!axes.empty()) {
        fixes.push_back(fmt::format(R"({{"op": "transpose", "axes": [{}]}} (if the file's axes are in another order; a )"
                                    R"(reshape would keep the values in their order and mix them up))",
                                    fmt::join(axes, ", ")));
    } else if (got.shape != spec.input_shape && have == want) {
        fixes.push_back(fmt::format(R"({{"op": "reshape", "shape": [{}]}})", fmt::join(spec.input_shape, ", ")));
    }
    std::string hint;
    if (have != want && input.shape.empty() && rows == want) {
        hint = fmt::format("rows are a file's first axis, so this 1-D file is {} samples of one value; one sample of {} "
                           "values is saved as shape (1, {}) (np.save(path, x[None]))",
                           rows, want, want);
    } else if (have != want) {
        hint = fmt::format("a sample holds {} values and the network's input {}: check \"input\": {{\"shape\"}} "
                           "and the preprocess ops",
                           have, want);
    } else {
        hint = fmt::format("add {} to \"preprocess\"", fmt::join(fixes, " and "));
    }
    throw error(fmt::format("{}: the preprocess ops produce samples of {}, but the network's input is float32 {}; {}",
                            where, got.to_string(), format_shape(spec.input_shape), hint));
}

}  // namespace

preprocess_plan network_input_plan(const model_spec& spec, const sample_desc& input, std::uint64_t rows,
                                   const std::string& where) {
    preprocess_plan plan = with_context(where, [&] { return preprocess_plan(parse_ops(spec.preprocess), input); });
    check_network_input(plan, input, rows, spec, where);
    return plan;
}

model::model(const std::filesystem::path& spec, const std::filesystem::path& weights, const model_options& options)
    : where_(printable_path(spec)) {
    const weight_source source(weights, options.weights_key);
    spec_ = read_model_spec(spec, source);
    bound_model bound = bind_parameters(spec_, source, options.strict);
    warnings_ = bound.warnings;
    const model_summary summary(bound);
    net_ = std::make_unique<network>(std::move(bound), std::max(1, options.threads));
    summary_ = summary.text(*net_);
}

std::vector<float> model::predict(std::span<const std::byte> data, const sample_desc& sample) const {
    const std::uint64_t bytes = sample.bytes();
    if (bytes == 0 || data.size() % bytes != 0) {
        throw error(fmt::format("predict: {} bytes are not a whole number of samples of {}", data.size(),
                                sample.to_string()));
    }
    const std::uint64_t rows = data.size() / bytes;
    const preprocess_plan plan = network_input_plan(spec_, sample, rows, where_);
    preprocess_plan::scratch scratch;
    const auto in = plan.run(data, rows, scratch);
    std::vector<float> out(rows * net_->output_values());
    net_->run({reinterpret_cast<const float*>(in.data()), rows * net_->input_values()}, rows, out);
    return out;
}

void model::predict_into(std::span<const std::byte> data, const sample_desc& sample, std::span<std::byte> dst,
                         const predict_options& options) const {
    const std::uint64_t bytes = sample.bytes();
    if (bytes == 0 || data.size() % bytes != 0) {
        throw error(fmt::format("predict: {} bytes are not a whole number of samples of {}", data.size(),
                                sample.to_string()));
    }
    if (options.batch_rows == 0) throw error("predict: batch must be at least 1");
    const std::uint64_t rows = data.size() / bytes;
    const auto& out_shape = net_->output_shape();
    const std::uint64_t classes = out_shape.empty() ? 1 : out_shape.back();
    const std::uint64_t out_row_bytes = net_->output_values() / (options.output == output_kind::argmax ? classes : 1) *
                                        itemsize(output_dtype(options.output));
    if (dst.size() != rows * out_row_bytes) {
        throw error(fmt::format("predict: the output holds {} bytes; {} rows of {} need {}", dst.size(), rows,
                                name(options.output), rows * out_row_bytes));
    }
    const preprocess_plan plan = network_input_plan(spec_, sample, rows, where_);
    const std::uint64_t batches = (rows + options.batch_rows - 1) / options.batch_rows;
    const auto run_batch = [&](std::uint64_t i) {
        const std::uint64_t first = i * options.batch_rows;
        const std::uint64_t n = std::min(options.batch_rows, rows - first);
        preprocess_plan::scratch scratch;
        const auto in = plan.run(data.subspan(first * bytes, n * bytes), n, scratch);
        std::vector<float> out(n * net_->output_values());
        net_->run({reinterpret_cast<const float*>(in.data()), n * net_->input_values()}, n, out, first);
        std::vector<std::byte> head;
        apply_output_head(out, classes, options.output, net_->last_layer(), head);
        std::copy(head.begin(), head.end(), dst.begin() + static_cast<std::ptrdiff_t>(first * out_row_bytes));
    };
    std::atomic<bool> stopped{false};
    tbb::task_arena arena(static_cast<int>(std::max(1u, options.threads)));
    arena.execute([&] {
        tbb::parallel_for(tbb::blocked_range<std::uint64_t>(0, batches, 1), [&](const auto& range) {
            for (std::uint64_t i = range.begin(); i != range.end(); ++i) {
                if (options.stop && options.stop->load()) {
                    stopped = true;
                    return;
                }
                run_batch(i);
            }
        });
    });
    if (stopped) throw job_stopped("predict was stopped; its outputs are incomplete");
}

std::vector<float> model::predict(std::span<const float> data, const std::vector<std::uint64_t>& sample_shape) const {
    return predict(std::as_bytes(data), sample_desc{dtype::float32, sample_shape});
}

std::vector<float> model::predict(const npy_array& rows) const {
    std::vector<std::uint64_t> shape(rows.header().shape.begin() + (rows.header().shape.empty() ? 0 : 1),
                                     rows.header().shape.end());
    const sample_desc sample{rows.header().type, shape};
    // C order and little endian already: the rows in place; else converted once.
    if (rows.header().is_native_layout()) return predict(rows.row_view(0, rows.rows()), sample);
    std::vector<std::byte> native(rows.rows() * rows.row_bytes());
    rows.copy_rows(0, rows.rows(), native);
    return predict(native, sample);
}

std::vector<std::int64_t> model::classes(std::span<const float> outputs) const {
    const std::uint64_t classes = net_->output_shape().back();
    std::vector<std::int64_t> result(outputs.size() / classes);
    for (std::size_t v = 0; v < result.size(); ++v) result[v] = predicted_class(outputs.data() + v * classes, classes);
    return result;
}

}  // namespace npyflow
