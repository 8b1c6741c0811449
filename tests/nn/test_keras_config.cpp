// spec_from_keras: Keras 2.x model.to_json() configs (tests/nn/fixtures/keras_config/, written
// in the form keras/engine/sequential.py and functional.py get_config give them) of networks
// whose Keras-layout weights and PyTorch outputs are fixtures already; each converted spec must
// bind those weights and compute PyTorch's outputs. Then every refusal, with its message.
#include <fmt/format.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <fstream>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_array.hpp"
#include "npyflow/nn/keras_config.hpp"
#include "tests/nn/nn_test_support.hpp"

namespace npyflow::test {
namespace {

const std::filesystem::path fixtures = NPYFLOW_NN_FIXTURES;

nlohmann::json read_json(const std::filesystem::path& path) {
    std::ifstream in(path);
    return nlohmann::json::parse(in);
}

std::vector<float> floats(const std::filesystem::path& path) {
    const npy_array a = open_npy(path);
    std::vector<float> values(a.raw_data().size() / sizeof(float));
    std::memcpy(values.data(), a.raw_data().data(), a.raw_data().size());
    return values;
}

// The converted spec run on the fixture's input, against PyTorch's output.
void computes_pytorchs_outputs(const std::string& config, const std::string& model, const std::string& input) {
    INFO(config);
    const nlohmann::json spec = spec_from_keras(read_json(fixtures / "keras_config" / config));
    INFO(spec.dump(1));
    const auto dir = fixtures / (std::filesystem::exists(fixtures / (model + ".keras.npz")) ? "" : "graph");
    const std::vector<float> x = floats(dir / input), expected = floats(dir / (model + ".expected.npy"));
    const std::size_t rows = open_npy(dir / input).header().shape.at(0);
    const network net(bind_parameters(parse_model_spec(spec), weight_source(dir / (model + ".keras.npz")), true));
    std::vector<float> out(rows * net.output_values());
    net.run(x, rows, out);
    REQUIRE(out.size() == expected.size());
    double worst = 0;
    for (std::size_t i = 0; i < out.size(); ++i)
        worst = std::max(worst, double(std::abs(out[i] - expected[i])));
    CHECK(worst < 1e-4);
}

nlohmann::json sequential(const std::string& layers, const std::string& input_shape = "[null, 4]") {
    return nlohmann::json::parse(fmt::format(
        R"({{"class_name": "Sequential", "config": {{"name": "s", "layers": [
             {{"class_name": "InputLayer", "config": {{"batch_input_shape": {}, "dtype": "float32", "sparse": false,
               "ragged": false, "name": "in"}}}}, {}]}}, "keras_version": "2.12.0", "backend": "tensorflow"}})",
        input_shape, layers));
}

void refused(const nlohmann::json& model, const std::string& message) {
    INFO(model.dump());
    REQUIRE_THROWS_WITH(spec_from_keras(model), message);
}

}  // namespace

TEST_CASE("nn.keras_config.sequential_models_compute_pytorchs_outputs", "[nn]") {
    computes_pytorchs_outputs("image_mlp.json", "image_mlp", "image_mlp.keras.input.npy");  // Keras 2.12 form
    computes_pytorchs_outputs("cnn_b.json", "cnn_b", "cnn_b.keras.input.npy");
    computes_pytorchs_outputs("conv1d_net.json", "conv1d_net", "conv1d_net.keras.input.npy");  // Keras 2.2.4
    computes_pytorchs_outputs("lstm_classifier.json", "lstm_classifier", "lstm_classifier.input.npy");
    computes_pytorchs_outputs("gru_keras.json", "gru_keras", "gru_keras.input.npy");
    // Bidirectional(...): its arrays in the forward_ and backward_ scopes; without
    // return_sequences, Keras's last output (the backward direction at step 0).
    computes_pytorchs_outputs("bilstm_seq.json", "bilstm_seq", "bilstm_seq.input.npy");
    computes_pytorchs_outputs("bigru_keras.json", "bigru_keras", "bigru_keras.input.npy");
}

TEST_CASE("nn.keras_config.functional_models_compute_pytorchs_outputs", "[nn]") {
    computes_pytorchs_outputs("resblock.json", "resblock", "resblock.keras.input.npy");
    computes_pytorchs_outputs("inception.json", "inception", "inception.keras.input.npy");  // Keras 2.2.4's "Model"
    computes_pytorchs_outputs("gated_seq.json", "gated_seq", "gated_seq.input.npy");
}

// What the converter writes: Keras's names, activations as layers after them, "inputs" only
// where a layer does not read the one before it, a ZeroPadding folded into the conv.
TEST_CASE("nn.keras_config.spec_keeps_keras_names_and_graph", "[nn]") {
    const auto spec = spec_from_keras(read_json(fixtures / "keras_config" / "resblock.json"));
    REQUIRE(spec["layout"] == "keras");
    REQUIRE(spec["input"]["shape"] == nlohmann::json{8, 8, 3});
    const auto& layers = spec["layers"];
    REQUIRE(layers[0] == nlohmann::json::parse(R"({"type": "conv2d", "name": "b1_conv1", "filters": 8,
        "kernel_size": [3, 3], "strides": [2, 2], "padding": [1, 1], "dilation_rate": [1, 1], "groups": 1,
        "use_bias": false})"));
    REQUIRE(layers[1]["inputs"] == nlohmann::json{"input"});  // b1_down_conv reads the model's input
    const auto gated = spec_from_keras(read_json(fixtures / "keras_config" / "gated_seq.json"));
    REQUIRE(gated["layers"][6] == nlohmann::json::parse(R"({"type": "concatenate", "name": "concatenate", "axis": -1,
        "inputs": ["act", "input"]})"));
    const auto inception = spec_from_keras(read_json(fixtures / "keras_config" / "inception.json"));
    REQUIRE(inception["layers"][1] == nlohmann::json::parse(R"({"type": "relu", "name": "br1/relu"})"));
    REQUIRE(inception["layers"][4]["inputs"] == nlohmann::json{"br1/relu", "br2/relu"});
    REQUIRE(inception["layers"].back() == nlohmann::json::parse(R"({"type": "softmax", "name": "fc/softmax"})"));
}

// The bare {"class_name", "config"} a full-model .h5 keeps as "model_config", and Keras 3's
// form (nodes as {"args": [...]} of __keras_tensor__, "batch_shape", one input as a bare triple).
TEST_CASE("nn.keras_config.h5_model_config_and_keras3_form", "[nn]") {
    auto model = read_json(fixtures / "keras_config" / "gru_keras.json");
    model.erase("keras_version");
    model.erase("backend");
    REQUIRE(spec_from_keras(model)["layers"][0] == nlohmann::json::parse(R"({"type": "gru", "name": "gru", "units": 6,
        "return_sequences": false, "use_bias": true, "reset_after": true})"));
    const auto keras3 = nlohmann::json::parse(R"({"class_name": "Functional", "config": {"name": "f", "trainable": true,
      "layers": [
        {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [null, 5], "dtype": "float32",
         "sparse": false, "name": "input_layer"}, "registered_name": null, "name": "input_layer", "inbound_nodes": []},
        {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d", "units": 3, "activation": "relu",
         "use_bias": true}, "registered_name": null, "name": "d", "inbound_nodes": [{"args": [{"class_name":
         "__keras_tensor__", "config": {"shape": [null, 5], "dtype": "float32", "keras_history": ["input_layer", 0, 0]}}],
         "kwargs": {}}]},
        {"module": "keras.layers", "class_name": "Add", "config": {"name": "add"}, "registered_name": null,
         "name": "add", "inbound_nodes": [{"args": [[
           {"class_name": "__keras_tensor__", "config": {"keras_history": ["d", 0, 0]}},
           {"class_name": "__keras_tensor__", "config": {"keras_history": ["d", 0, 0]}}]], "kwargs": {}}]}],
      "input_layers": ["input_layer", 0, 0], "output_layers": ["add", 0, 0]}, "keras_version": "3.3.3"})");
    const auto spec = spec_from_keras(keras3);
    REQUIRE(spec["input"]["shape"] == nlohmann::json{5});
    REQUIRE(spec["layers"] == nlohmann::json::parse(R"([{"type": "dense", "name": "d", "units": 3, "use_bias": true},
        {"type": "relu", "name": "d/relu"}, {"type": "add", "name": "add", "inputs": ["d/relu", "d/relu"]}])"));
    REQUIRE_NOTHROW(parse_model_spec(spec));
}

// An open size (None) must be given; the size given must agree with those the config states.
TEST_CASE("nn.keras_config.input_shape_open_sizes", "[nn]") {
    const auto lstm = sequential(R"({"class_name": "LSTM", "config": {"name": "l", "units": 3}})", "[null, null, 4]");
    refused(lstm,
            "the model's input has shape [null,null,4] with an open size (None) besides the batch; give the "
            "input shape (one sample, without the batch)");
    REQUIRE(spec_from_keras(lstm, std::vector<std::uint64_t>{7, 4})["input"]["shape"] == nlohmann::json{7, 4});
    REQUIRE_THROWS_WITH(spec_from_keras(lstm, std::vector<std::uint64_t>{7, 5}),
                        "the input shape given has 5 in dim 1, the model's input [null,null,4] says 4");
    REQUIRE_THROWS_WITH(spec_from_keras(lstm, std::vector<std::uint64_t>{7}),
                        "the input shape given has 1 dims, the model's input [null,null,4] has 2 besides the batch");
    const auto unbuilt = nlohmann::json::parse(
        R"({"class_name": "Sequential", "config": {"name": "s", "layers": [{"class_name": "Dense", "config": {"name": "d", "units": 2}}]}})");
    refused(unbuilt,
            "the config gives no input shape (no InputLayer, no batch_input_shape on the first layer, no "
            "build_input_shape); give the input shape (one sample, without the batch)");
    REQUIRE(spec_from_keras(unbuilt, std::vector<std::uint64_t>{3})["input"]["shape"] == nlohmann::json{3});
}

TEST_CASE("nn.keras_config.refusals_name_the_layer_and_option", "[nn]") {
    refused(sequential(R"({"class_name": "Bidirectional", "config": {"name": "bidirectional", "layer": {}}})",
                       "[null, 5, 4]"),
            "layer 'bidirectional' (Bidirectional) wraps no layer it can read; npyflow's bidirectional layers are "
            "LSTM and GRU");
    refused(sequential(R"({"class_name": "Bidirectional", "config": {"name": "bidirectional", "layer":
                           {"class_name": "SimpleRNN", "config": {"name": "rnn", "units": 3}}}})",
                       "[null, 5, 4]"),
            "layer 'bidirectional' (Bidirectional) wraps a SimpleRNN; npyflow's bidirectional layers are LSTM and GRU");
    refused(sequential(R"({"class_name": "Bidirectional", "config": {"name": "bidirectional", "merge_mode": "sum",
                           "layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 3}}}})",
                       "[null, 5, 4]"),
            R"(layer 'bidirectional' (Bidirectional) has merge_mode "sum"; npyflow concatenates the two directions ("concat"))");
    refused(sequential(R"({"class_name": "Bidirectional", "config": {"name": "bidirectional",
                           "layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 3}},
                           "backward_layer": {"class_name": "LSTM", "config": {"name": "back", "units": 3}}}})",
                       "[null, 5, 4]"),
            "layer 'bidirectional' (Bidirectional) has a backward_layer of its own; npyflow runs the wrapped layer "
            "both ways");
    refused(sequential(R"({"class_name": "Bidirectional", "config": {"name": "bidirectional",
                           "layer": {"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "go_backwards": true}}}})",
                       "[null, 5, 4]"),
            "layer 'bidirectional' (LSTM) has go_backwards true; npyflow reads sequences forward");
    refused(
        sequential(R"({"class_name": "Conv2D", "config": {"name": "conv", "filters": 2, "kernel_size": [3, 3],
                           "data_format": "channels_first"}})",
                   "[null, 3, 8, 8]"),
        R"(layer 'conv' (Conv2D) has data_format "channels_first"; npyflow's keras layout is channels_last, Keras's default (samples (H, W, C), kernels (kH, kW, I, O)))");
    refused(
        sequential(R"({"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "activation": "relu"}})",
                   "[null, 5, 4]"),
        R"(layer 'lstm' (LSTM) has activation "relu"; npyflow runs the standard cell (activation tanh, recurrent_activation sigmoid))");
    refused(
        sequential(
            R"({"class_name": "GRU", "config": {"name": "gru", "units": 3, "recurrent_activation": "hard_sigmoid"}})",
            "[null, 5, 4]"),
        R"(layer 'gru' (GRU) has recurrent_activation "hard_sigmoid"; npyflow runs the standard cell (activation tanh, recurrent_activation sigmoid))");
    refused(sequential(R"({"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "return_state": true}})",
                       "[null, 5, 4]"),
            "layer 'lstm' (LSTM) has return_state true; npyflow gives the layer's output only");
    refused(sequential(R"({"class_name": "LSTM", "config": {"name": "lstm", "units": 3, "go_backwards": true}})",
                       "[null, 5, 4]"),
            "layer 'lstm' (LSTM) has go_backwards true; npyflow reads sequences forward");
    refused(
        sequential(R"({"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "swish"}})"),
        R"(layer 'dense' (Dense) has activation "swish", which npyflow does not compute (it has: linear, relu, sigmoid, tanh, softmax, gelu, log_softmax))");
    refused(
        sequential(R"({"class_name": "Activation", "config": {"name": "act", "activation": "elu"}})"),
        R"(layer 'act' (Activation) has activation "elu", which npyflow does not compute (it has: linear, relu, sigmoid, tanh, softmax, gelu, log_softmax))");
    refused(
        sequential(
            R"({"class_name": "Conv1D", "config": {"name": "c", "filters": 2, "kernel_size": [3], "padding": "causal"}})",
            "[null, 9, 2]"),
        R"(layer 'c' (Conv1D) has padding "causal"; npyflow computes "valid" and "same")");
    refused(
        sequential(R"({"class_name": "BatchNormalization", "config": {"name": "bn", "axis": [1]}})", "[null, 8, 8, 3]"),
        "layer 'bn' (BatchNormalization) has axis [1]; npyflow's batchnorm works over the last axis only (3 of its "
        "4-D input, batch counted)");
    refused(
        sequential(R"({"class_name": "BatchNormalization", "config": {"name": "bn", "axis": -1, "scale": false}})"),
        "layer 'bn' (BatchNormalization) has scale false, so it has no gamma array; npyflow's batchnorm needs gamma, "
        "beta, moving_mean and moving_variance");
    refused(
        sequential(R"({"class_name": "LayerNormalization", "config": {"name": "ln", "axis": [1, 2]}})", "[null, 3, 4]"),
        "layer 'ln' (LayerNormalization) has axis [1,2]; npyflow's layernorm works over the last axis only (2 of "
        "its 3-D input, batch counted)");
    refused(sequential(R"({"class_name": "LayerNormalization", "config": {"name": "ln", "center": false}})"),
            "layer 'ln' (LayerNormalization) has center false and scale true; npyflow binds gamma and beta together "
            "(both or neither)");
    refused(sequential(R"({"class_name": "Embedding", "config": {"name": "emb", "input_dim": 9, "output_dim": 2,
                           "mask_zero": true}})",
                       "[null, 5]"),
            "layer 'emb' (Embedding) has mask_zero true; npyflow does not mask time steps, so the layers after it "
            "would see id 0's row");
    refused(sequential(R"({"class_name": "ReLU", "config": {"name": "relu6", "max_value": 6.0}})"),
            "layer 'relu6' (ReLU) has max_value 6.0 (a capped relu), which npyflow does not compute");
    refused(sequential(R"({"class_name": "GlobalAveragePooling2D", "config": {"name": "gap", "keepdims": true}})",
                       "[null, 4, 4, 2]"),
            "layer 'gap' (GlobalAveragePooling2D) has keepdims true; npyflow's global pooling gives (C)");
    refused(sequential(R"({"class_name": "ZeroPadding2D", "config": {"name": "zp", "padding": [[0, 1], [0, 1]]}},
                          {"class_name": "Conv2D", "config": {"name": "c", "filters": 2, "kernel_size": [3, 3]}})",
                       "[null, 8, 8, 3]"),
            "layer 'zp' (ZeroPadding2D) pads [[0,1],[0,1]] unevenly; npyflow's conv takes the same padding on both "
            "sides of an axis");
    refused(sequential(R"({"class_name": "ZeroPadding2D", "config": {"name": "zp", "padding": [[1, 1], [1, 1]]}},
                          {"class_name": "MaxPooling2D", "config": {"name": "p", "pool_size": [2, 2]}})",
                       "[null, 8, 8, 3]"),
            "layer 'zp' (ZeroPadding2D) is read by 'p' (MaxPooling2D); npyflow folds a ZeroPadding into the Conv2D "
            "right after it and supports it nowhere else");
    refused(sequential(R"({"class_name": "Dense", "config": {"name": "input", "units": 2}})"),
            "layer 'input' (Dense) is named 'input', the name npyflow's specs keep for the model's input; rename it in "
            "Keras (its weights' names change with it)");
    refused(sequential(R"({"class_name": "Dense", "config": {"name": "dense"}})"),
            "layer 'dense' (Dense) has no 'units'");
    refused(
        nlohmann::json::parse(R"({"layers": []})"),
        R"(not a Keras model config: expected {"class_name": "Sequential" or "Functional", "config": {...}}, as model.to_json() writes it)");
    refused(nlohmann::json::parse(R"({"class_name": "Dense", "config": {}})"),
            "class_name 'Dense' is not a Keras model npyflow reads (Sequential, Functional, Model)");
}

TEST_CASE("nn.keras_config.functional_graph_refusals", "[nn]") {
    auto model = [](const std::string& layers, const std::string& inputs, const std::string& outputs) {
        return nlohmann::json::parse(fmt::format(
            R"({{"class_name": "Functional", "config": {{"name": "f", "layers": [
                 {{"class_name": "InputLayer", "name": "a", "inbound_nodes": [],
                   "config": {{"batch_input_shape": [null, 4], "name": "a"}}}},
                 {{"class_name": "InputLayer", "name": "b", "inbound_nodes": [],
                   "config": {{"batch_input_shape": [null, 4], "name": "b"}}}}, {}],
               "input_layers": {}, "output_layers": {}}}}})",
            layers, inputs, outputs));
    };
    const std::string add = R"({"class_name": "Add", "name": "add", "config": {"name": "add"},
                                "inbound_nodes": [[["a", 0, 0, {}], ["b", 0, 0, {}]]]})";
    refused(model(add, R"([["a", 0, 0], ["b", 0, 0]])", R"([["add", 0, 0]])"),
            "the model has 2 inputs ('a', 'b'); npyflow's specs take one input and give one output");
    const std::string two = R"({"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 2},
                                "inbound_nodes": [[["a", 0, 0, {}]]]},
                               {"class_name": "Dense", "name": "e", "config": {"name": "e", "units": 2},
                                "inbound_nodes": [[["a", 0, 0, {}]]]})";
    refused(model(two, R"([["a", 0, 0]])", R"([["d", 0, 0], ["e", 0, 0]])"),
            "the model has 2 outputs ('d', 'e'); npyflow's specs take one input and give one output");
    refused(model(R"({"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 4},
                      "inbound_nodes": [[["a", 0, 0, {}]], [["a", 0, 0, {}]]]})",
                  R"([["a", 0, 0]])", R"([["d", 0, 0]])"),
            "layer 'd' (Dense) is called 2 times (a shared layer); npyflow binds each layer's weights to one call");
    // The second input, not among the model's inputs, is a layer without inputs the output needs.
    refused(model(add, R"([["a", 0, 0]])", R"([["add", 0, 0]])"),
            "layer 'b' (InputLayer) has no inputs but is not the model's input 'a'");
    refused(model(R"({"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 4},
                      "inbound_nodes": [[["a", 0, 0, {}]]]},
                     {"class_name": "TFOpLambda", "name": "tf.math.add", "config": {"name": "tf.math.add",
                      "function": "math.add"}, "inbound_nodes": [[["d", 0, 0, {"y": 1.0}]]]})",
                  R"([["a", 0, 0]])", R"([["tf.math.add", 0, 0]])"),
            "layer 'tf.math.add' (TFOpLambda) is not supported by npyflow");
    refused(model(R"({"class_name": "Dense", "name": "d", "config": {"name": "d", "units": 4},
                      "inbound_nodes": [[["e", 0, 0, {}]]]},
                     {"class_name": "Dense", "name": "e", "config": {"name": "e", "units": 4},
                      "inbound_nodes": [[["d", 0, 0, {}]]]})",
                  R"([["a", 0, 0]])", R"([["e", 0, 0]])"),
            "the model's layers form a cycle");
}

// Keras applies a Dense to every position of a 4-D input; npyflow's linear takes (F) or (T, F):
// refused when the spec is written, not at scoring with a hint that would change the maths.
TEST_CASE("nn.keras_config.dense_on_an_image_is_refused", "[nn]") {
    refused(sequential(R"({"class_name": "Dense", "config": {"name": "d", "units": 2}})", "[null, 4, 4, 3]"),
            "layer 'd' (Dense) reads a 3-D input and would apply to each of its positions, which npyflow's linear "
            "does not; flatten before it in the model");
}

}  // namespace npyflow::test
