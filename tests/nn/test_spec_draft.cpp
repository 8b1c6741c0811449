// draft_spec: specs proposed from the fixtures' array names and shapes must parse and bind
// those weights (every array used), and the notes must name each guess.
#include <fmt/format.h>

#include <catch2/catch.hpp>

#include "npyflow/nn/spec_draft.hpp"
#include "tests/nn/nn_test_support.hpp"
#include "tests/test_support.hpp"

namespace npyflow::test {
namespace {

using shapes = std::vector<std::pair<std::string, std::vector<std::uint64_t>>>;

const std::filesystem::path fixtures = NPYFLOW_NN_FIXTURES;

shapes arrays_of(const weight_source& weights) {
    shapes arrays;
    for (const auto& name : weights.names())
        arrays.emplace_back(name, weights.load(name).header().shape);
    return arrays;
}

// Drafted from the file's names and shapes, then parsed and bound (strict: every array used).
spec_draft drafted_and_bound(const std::string& file, const std::optional<std::vector<std::uint64_t>>& input_shape) {
    const weight_source weights(fixtures / file);
    spec_draft d = draft_spec(arrays_of(weights), input_shape);
    INFO(file << ": " << d.spec.dump(1) << "\n" << fmt::format("{}", fmt::join(d.notes, "\n")));
    REQUIRE_NOTHROW(bind_parameters(parse_model_spec(d.spec), weights, true));
    return d;
}

bool has_note(const spec_draft& d, const std::string& text) {
    const bool found = std::any_of(d.notes.begin(), d.notes.end(),
                                   [&](const std::string& n) { return n.find(text) != std::string::npos; });
    if (!found) UNSCOPED_INFO("notes:\n" << fmt::format("{}", fmt::join(d.notes, "\n")));
    return found;
}

}  // namespace

TEST_CASE("nn.spec_draft.torch_mlp", "[nn]") {
    const auto d = drafted_and_bound("mlp.npz", std::nullopt);
    REQUIRE(d.spec["layout"] == "torch");
    REQUIRE(d.spec["input"]["shape"] == nlohmann::json{20});  // the first linear's in_features
    REQUIRE(d.spec["layers"] == nlohmann::json::parse(R"([
        {"type": "linear", "name": "0", "out_features": 16, "bias": true}, {"type": "batchnorm", "name": "1"},
        {"type": "linear", "name": "3", "out_features": 8, "bias": true},
        {"type": "linear", "name": "5", "out_features": 5, "bias": true}])"));
    CHECK(has_note(d, "layers[1] '1': batchnorm: eps is not in the weights; PyTorch's default 1e-5 assumed"));
    CHECK(has_note(d,
                   "activations (relu, tanh, ...), pooling and dropout have no weights: the draft has none; add "
                   "them where the model has them (between '1' and '3', '3' and '5')"));
    CHECK(has_note(d, "input.shape [20]: from the first layer's input size"));
    CHECK(has_note(d, "without a softmax"));
}

TEST_CASE("nn.spec_draft.torch_cnn", "[nn]") {
    const auto d = drafted_and_bound("cnn_b.npz", std::vector<std::uint64_t>{4, 9, 9});
    REQUIRE(d.spec["layers"][0] == nlohmann::json::parse(R"({"type": "conv2d", "name": "0", "out_channels": 6,
        "kernel_size": [3, 2], "stride": 1, "padding": 0, "bias": true})"));
    REQUIRE(d.spec["layers"][3] == nlohmann::json::parse(R"({"type": "global_avgpool2d"})"));
    CHECK(has_note(d,
                   "layers[0] '0': conv2d kernel 3x2: stride and padding are not in the weights; stated as 1 and "
                   "0, check them (and groups: 1 assumed, 4 input channels)"));
    CHECK(has_note(d,
                   "layers[3]: a global average pool, a guess: the weights go from a conv to a linear reading 6 "
                   "features (its channels)"));
    // Without the input shape, the channels are known and the spatial sizes are asked for.
    const weight_source weights(fixtures / "cnn_b.npz");
    const auto open = draft_spec(arrays_of(weights), std::nullopt);
    REQUIRE(open.spec["input"]["shape"] == nlohmann::json{4, "H", "W"});
    CHECK(has_note(open,
                   R"(input.shape [4,"H","W"]: the sizes named are not in the weights; give them with --input-shape)"));
}

TEST_CASE("nn.spec_draft.torch_embedding_and_lstm", "[nn]") {
    const auto d = drafted_and_bound("graph/lstm_classifier.npz", std::vector<std::uint64_t>{12});
    REQUIRE(d.spec["layers"][0] == nlohmann::json::parse(R"({"type": "embedding", "name": "emb", "num_embeddings": 50,
        "embedding_dim": 8})"));
    REQUIRE(d.spec["layers"][1] == nlohmann::json::parse(R"({"type": "lstm", "name": "lstm", "hidden_size": 16,
        "num_layers": 2, "bias": true, "return_sequences": false})"));
    CHECK(has_note(d, "layers[0] 'emb': embedding 50 x 8: a guess (a 2-D weight without bias named so)"));
    CHECK(has_note(d, "layers[1] 'lstm': return_sequences false: a guess (the last step, as a classifier reads)"));
    const auto open = draft_spec(arrays_of(weight_source(fixtures / "graph/lstm_classifier.npz")), std::nullopt);
    REQUIRE(open.spec["input"]["shape"] == nlohmann::json{"T"});
    // Bidirectional, 2 layers, GRU by its 3H rows.
    const auto gru = drafted_and_bound("graph/gru_classifier.npz", std::vector<std::uint64_t>{9, 4});
    REQUIRE(gru.spec["layers"][0] == nlohmann::json::parse(R"({"type": "gru", "name": "gru", "hidden_size": 6,
        "num_layers": 2, "bidirectional": true, "bias": true, "return_sequences": false})"));
}

TEST_CASE("nn.spec_draft.keras_names_and_positions", "[nn]") {
    const auto d = drafted_and_bound("mlp.keras.npz", std::nullopt);
    REQUIRE(d.spec["layout"] == "keras");
    REQUIRE(d.spec["layers"][0] ==
            nlohmann::json::parse(R"({"type": "dense", "name": "0", "units": 16, "use_bias": true})"));
    REQUIRE(d.spec["layers"][1] == nlohmann::json::parse(R"({"type": "batch_normalization", "name": "1"})"));
    CHECK(has_note(d, "Keras names (layer/kernel): the keras layout"));
    CHECK(has_note(d, "epsilon is not in the weights; Keras's default 1e-3 assumed"));
    const auto lstm = drafted_and_bound("graph/lstm_classifier.keras.npz", std::vector<std::uint64_t>{12});
    REQUIRE(lstm.spec["layers"][1]["return_sequences"] == true);  // another lstm follows
    REQUIRE(lstm.spec["layers"][2]["return_sequences"] == false);
    const auto gru = drafted_and_bound("graph/gru_keras.keras.npz", std::vector<std::uint64_t>{9, 4});
    REQUIRE(gru.spec["layers"][0]["reset_after"] == true);  // its (2, 3H) bias
    const auto positional = drafted_and_bound("mlp.keras_positional.npz", std::nullopt);
    REQUIRE(positional.spec["layout"] == "keras");
    CHECK(has_note(positional,
                   "positional arrays (arr_0, ...): the layers are read from shapes alone, and the layout "
                   "is a guess (keras, as np.savez(*model.get_weights()) writes); state the right one"));
    CHECK(has_note(positional, "batchnorm: four arrays of 16 taken as its weight, bias, mean and variance"));
}

// A Keras Bidirectional layer's two direction scopes draft one bidirectional layer named as the
// wrapper (two stacked layers would bind and compute another model); a lone direction is named.
TEST_CASE("nn.spec_draft.keras_bidirectional", "[nn]") {
    const auto d = drafted_and_bound("graph/bilstm_seq.keras.npz", std::vector<std::uint64_t>{10, 6});
    REQUIRE(d.spec["layers"].size() == 3);
    REQUIRE(d.spec["layers"][0]["name"] == "bidirectional");
    REQUIRE(d.spec["layers"][0]["bidirectional"] == true);
    REQUIRE(d.spec["layers"][0]["hidden_size"] == 5);
    const auto gru = drafted_and_bound("graph/bigru_keras.keras.npz", std::vector<std::uint64_t>{9, 4});
    REQUIRE(gru.spec["layers"][0]["type"] == "gru");
    REQUIRE(gru.spec["layers"][0]["bidirectional"] == true);
    const auto lone = draft_spec({{"bi/backward_lstm/lstm_cell/kernel:0", {6, 20}},
                                  {"bi/backward_lstm/lstm_cell/recurrent_kernel:0", {5, 20}},
                                  {"bi/backward_lstm/lstm_cell/bias:0", {20}}},
                                 std::nullopt);
    CHECK(has_note(lone, "'bi/backward_lstm/lstm_cell': a Bidirectional layer's backward direction without its "
                         "forward one of the same shapes; left out"));
    CHECK(lone.spec["layers"].empty());
}

TEST_CASE("nn.spec_draft.names_it_cannot_read", "[nn]") {
    const auto d = draft_spec(
        {{"module.fc.weight", {3, 4}}, {"module.fc.bias", {3}}, {"module.odd.thing", {2, 2, 2, 2, 2}}}, std::nullopt);
    REQUIRE(d.spec["strip_prefix"] == "module.");
    REQUIRE(d.spec["layers"].size() == 1);
    CHECK(has_note(d, "arrays not recognised, left out: odd.thing (2, 2, 2, 2, 2)"));
    CHECK(has_note(d, R"(strip_prefix "module.": every array name starts with it)"));
    const auto positional = draft_spec({{"arr_0", {3, 4, 5, 6, 7}}}, std::nullopt);
    CHECK(has_note(positional, "array 'arr_0' (3, 4, 5, 6, 7) not recognised by its shape; the draft stops before it"));
    CHECK(has_note(positional, "no layer recognised: the draft has no layers and is not a spec yet"));
}

// Recurrent arrays of the wrong rank (a hostile or damaged file) are named and left out,
// never indexed past their shape.
TEST_CASE("nn.spec_draft.recurrent_arrays_of_the_wrong_rank", "[nn]") {
    for (const auto& arrays : {shapes{{"rnn.weight_ih_l0", {}}, {"rnn.weight_hh_l0", {}}},
                               shapes{{"rnn.weight_ih_l0", {8}}, {"rnn.weight_hh_l0", {8}}},
                               shapes{{"lstm/kernel:0", {}}, {"lstm/recurrent_kernel:0", {4}}}}) {
        const spec_draft d = draft_spec(arrays, std::nullopt);
        std::string notes;
        for (const auto& n : d.notes) notes += n + "\n";
        INFO(notes);
        REQUIRE_THAT(notes, Catch::Contains("must be 2-D, got"));
    }
}

// A transformer encoder layer's arrays would draft as a chain of linears that binds and computes
// something else: refused, saying what to write.
TEST_CASE("nn.spec_draft.transformer_arrays_are_refused", "[nn]") {
    const shapes arrays{{"enc.self_attn.in_proj_weight", {24, 8}}, {"enc.self_attn.in_proj_bias", {24}},
                        {"enc.self_attn.out_proj.weight", {8, 8}}, {"enc.self_attn.out_proj.bias", {8}},
                        {"enc.linear1.weight", {16, 8}}, {"enc.linear1.bias", {16}},
                        {"enc.linear2.weight", {8, 16}}, {"enc.linear2.bias", {8}}};
    REQUIRE_THROWS_WITH(draft_spec(arrays, std::nullopt),
                        Catch::Contains("'enc.self_attn.in_proj_weight' is a transformer encoder layer's attention: "
                                        "write the spec by hand with {\"type\": \"transformer_encoder\", \"name\": "
                                        "\"enc\", \"nhead\": ...}"));
}

// One bare module's state_dict (nn.Linear(4, 3).state_dict(): "weight", "bias"): its layer is
// unnamed, and an unnamed layer binds the bare names.
TEST_CASE("nn.spec_draft.a_bare_modules_state_dict", "[nn]") {
    scratch_dir dir;
    save_weights(dir.path(), {{"weight", {{3, 4}, std::vector<float>(12, 0.5f)}}, {"bias", {{3}, {1, 2, 3}}}});
    const weight_source weights(dir.path());
    const spec_draft d = draft_spec(arrays_of(weights), std::nullopt);
    INFO(d.spec.dump());
    REQUIRE_FALSE(d.spec["layers"][0].contains("name"));
    const auto out = run_network(parse_model_spec(d.spec), dir.path(), {1, 1, 1, 1}, 1);
    REQUIRE(out == std::vector<float>{3, 4, 5});
    // Two unnamed layers cannot both be the one module.
    const auto twice = spec_of(R"({"layout": "torch", "input": {"shape": [4]}, "layers": [{"type": "linear"},
        {"type": "relu"}, {"type": "linear"}]})");
    REQUIRE_THROWS_WITH(bind_parameters(twice, weights, false),
                        Catch::Contains("array 'weight' is bound by an earlier unnamed layer already"));
    const spec_draft proj = draft_spec({{"lstm.weight_ih_l0", {16, 3}}, {"lstm.weight_hh_l0", {16, 2}},
                                        {"lstm.weight_hr_l0", {2, 4}}},
                                       std::nullopt);
    REQUIRE(has_note(proj, "an LSTM with proj_size (weight_hr_l0), which npyflow does not have"));
}

}  // namespace npyflow::test
