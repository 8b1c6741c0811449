// The restricted unpickler and the naming rules, against pickles numpy wrote
// (tests/io/make_pickle_fixtures.py, committed) and hostile ones built byte by byte.

#include <cstring>
#include <filesystem>

#include <catch2/catch.hpp>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/pickle.hpp"
#include "tests/io/pickle_fixtures.hpp"

using namespace npyflow;
using Catch::Matchers::Contains;
using Catch::Matchers::StartsWith;

namespace {

std::vector<std::byte> bytes_of(std::string_view text) {
    std::vector<std::byte> out(text.size());
    std::memcpy(out.data(), text.data(), text.size());
    return out;
}

// A pickle written as a string literal, NUL bytes included.
template <std::size_t N>
std::vector<std::byte> lit(const char (&text)[N]) {
    return bytes_of(std::string_view(text, N - 1));
}

// The marker file the os.system and eval fixtures would touch if anything ever ran them.
const std::filesystem::path marker = "/tmp/npyflow_pickle_fixture_was_executed";

std::string refusal(const std::filesystem::path& path, std::string_view key = {}) {
    try {
        (void)test::read_weights(path, key);
    } catch (const error& e) {
        return e.what();
    }
    FAIL("no error for " << path);
    return {};
}

}  // namespace

TEST_CASE("pickle.numpy_fixtures.match_numpy_exactly", "[io][pickle]") {
    std::size_t checked = 0;
    for (const auto& entry : std::filesystem::directory_iterator(test::pickle_fixture(""))) {
        const auto ext = entry.path().extension();
        if (ext != ".npy" && ext != ".pkl") continue;
        INFO(entry.path().filename().string());
        test::check_matches_expected(test::read_weights(entry.path()), entry.path().string() + ".expected.npz");
        ++checked;
    }
    CHECK(checked == 11);  // list, tuple, dict, nested, dtypes, int_keys (.npy); checkpoint, protocol 0/2/4/5 (.pkl)
}

TEST_CASE("pickle.hostile.each_refused_with_one_line_naming_file_and_problem", "[io][pickle][hostile]") {
    std::filesystem::remove(marker);
    const auto cases = test::hostile_cases();
    REQUIRE(cases.size() >= 45);
    for (const auto& [file, words] : cases) {
        INFO(file);
        const auto message = refusal(test::pickle_fixture("hostile") / file);
        CHECK_THAT(message, StartsWith(file + ": "));
        CHECK_THAT(message, Contains(words));
        CHECK(message.find('\n') == std::string::npos);
    }
    CHECK_FALSE(std::filesystem::exists(marker));
}

TEST_CASE("pickle.refusal.names_the_global_as_the_brief_words_it", "[io][pickle][hostile]") {
    CHECK(refusal(test::pickle_fixture("hostile/os_system.npy")) ==
          "os_system.npy: the pickle asks for 'posix.system', which is not an array, list, tuple or dict; npyflow "
          "loads only numpy's and PyTorch's arrays and never runs code");
}

TEST_CASE("pickle.truncated.at_every_few_bytes_is_an_error", "[io][pickle][hostile]") {
    for (const auto* name : {"list.npy", "dict.npy", "dtypes.npy", "protocol0.pkl", "protocol2.pkl", "protocol5.pkl",
                             "checkpoint.pkl"}) {
        const auto bytes = test::read_file(test::pickle_fixture(name));
        INFO(name);
        for (std::size_t n = 0; n < bytes.size(); n += n < 256 ? 1 : 7) {
            INFO("first " << n << " bytes");
            CHECK_THROWS_AS(test::read_weights_bytes(std::span(bytes).first(n), name), error);
        }
        CHECK_NOTHROW(test::read_weights_bytes(bytes, name));
    }
}

TEST_CASE("pickle.truncated.says_what_ran_short", "[io][pickle][hostile]") {
    const auto bytes = test::read_file(test::pickle_fixture("list.npy"));
    CHECK_THROWS_WITH(test::read_weights_bytes(std::span(bytes).first(bytes.size() - 20), "w.npy"),
                      StartsWith("w.npy: pickle: truncated: ") && Contains("(at offset"));
}

TEST_CASE("pickle.weights_key.selects_by_whole_key_then_by_path", "[io][pickle]") {
    const auto checkpoint = test::pickle_fixture("checkpoint.pkl");
    const auto weights = test::read_weights(checkpoint, "weights");
    REQUIRE(weights.size() == 2);
    CHECK(weights[0].name == "w");
    // A path down to one array binds it alone.
    const auto one = test::read_weights(checkpoint, "weights/b");
    REQUIRE(one.size() == 1);
    CHECK(one[0].name == "arr_0");
    CHECK(one[0].array.header().shape == std::vector<std::uint64_t>{3});
    // TF1 names hold '/': the whole key is tried first.
    const auto kernel = test::read_weights(test::pickle_fixture("dict.npy"), "dense/kernel");
    REQUIRE(kernel.size() == 1);
    CHECK(kernel[0].array.header().shape == std::vector<std::uint64_t>{4, 3});
    // A list entry by index.
    const auto third = test::read_weights(test::pickle_fixture("nested.npy"), "1/1");
    REQUIRE(third.size() == 1);
    CHECK(third[0].array.header().shape == std::vector<std::uint64_t>{3});
}

TEST_CASE("pickle.weights_key.errors_name_what_is_there", "[io][pickle]") {
    const auto checkpoint = test::pickle_fixture("checkpoint.pkl");
    CHECK(refusal(checkpoint, "nope") ==
          "checkpoint.pkl: --weights-key 'nope': the pickle's root has no key 'nope' (its keys: 'epoch', 'lr', "
          "'name', 'history', 'weights')");
    CHECK(refusal(checkpoint, "weights/x") ==
          "checkpoint.pkl: --weights-key 'weights/x': 'weights' has no key 'x' (its keys: 'w', 'b')");
    CHECK(refusal(checkpoint, "history") ==
          "checkpoint.pkl: position 0 holds a float, not an array; a list of weights must hold only arrays (or lists "
          "of them)");
    CHECK(refusal(checkpoint, "epoch") ==
          "checkpoint.pkl: --weights-key 'epoch' is a int, not an array, a dict of arrays or a list of arrays");
    CHECK(refusal(checkpoint, "epoch/x") ==
          "checkpoint.pkl: --weights-key 'epoch/x': 'epoch' is a int, which has no entry 'x'");
    CHECK_THAT(refusal(test::pickle_fixture("hostile/string_root.pkl"), "a"),
               Contains("--weights-key 'a' selects from a dict, but the pickle holds a str"));
}

TEST_CASE("pickle.object_npy.is_told_from_numeric_and_refused_as_data", "[io][pickle]") {
    const auto object = test::read_file(test::pickle_fixture("list.npy"));
    CHECK(is_object_npy(object));
    const auto header = parse_object_npy_header(object, object.size());
    CHECK(header.shape == std::vector<std::uint64_t>{3});
    const auto numeric = bytes_of(format_npy_header(dtype::float32, {2}) + std::string(8, '\0'));
    CHECK_FALSE(is_object_npy(numeric));
    CHECK_FALSE(is_object_npy(bytes_of("not an npy")));
    CHECK_FALSE(is_object_npy(std::span(object).first(20)));
    // Datasets never unpickle: the .npy reader refuses the same file, saying why.
    CHECK_THROWS_WITH(parse_npy_header(object, object.size()),
                      "unsupported dtype '|O': object (pickled Python objects, which npyflow reads only as weights, "
                      "never as data) arrays are not supported");
    CHECK_THROWS_WITH(read_pickled_npy(numeric, {}, "x.npy"), "x.npy: not an object array: its dtype is '<f4', not '|O'");
}

TEST_CASE("pickle.unpickle.builds_plain_values", "[io][pickle]") {
    using kind = pickle_value::kind;
    SECTION("protocol 2: dict in insertion order, every scalar") {
        // {'z': None, 'a': (True, -2, 70000, -2**40, 1.5), 'b': b'xy', 'c': [1, 'é']}
        const auto tree = unpickle(lit("\x80\x02}q\x00(X\x01\x00\x00\x00" "zNX\x01\x00\x00\x00" "a(\x88J\xfe\xff\xff\xff"
                                       "Jp\x11\x01\x00\x8a\x06\x00\x00\x00\x00\x00\xffG?\xf8\x00\x00\x00\x00\x00\x00"
                                       "tX\x01\x00\x00\x00" "bC\x02xyX\x01\x00\x00\x00" "c]q\x01(K\x01\x8c\x02\xc3\xa9" "eu."));
        const auto& root = tree.root();
        REQUIRE(root.what == kind::dict);
        REQUIRE(root.items.size() == 8);
        CHECK(root.items[0]->text == "z");
        CHECK(root.items[1]->what == kind::none);
        const auto& t = *root.items[3];
        REQUIRE(t.what == kind::tuple);
        REQUIRE(t.items.size() == 5);
        CHECK(t.items[0]->what == kind::boolean);
        CHECK(t.items[1]->integer == -2);
        CHECK(t.items[2]->integer == 70000);
        CHECK(t.items[3]->integer == -(std::int64_t{1} << 40));
        CHECK(t.items[4]->floating == 1.5);
        CHECK(root.items[5]->what == kind::bytes);
        CHECK(root.items[5]->bytes.size() == 2);
        const auto& l = *root.items[7];
        REQUIRE(l.items.size() == 2);
        CHECK(l.items[1]->text == "\xc3\xa9");
    }
    SECTION("protocol 0 text opcodes") {
        // pickle.dumps({'a': [1, 2.5, 'x\u20ac', True], 'b': 'q\n'}, protocol=0) as Python 3 writes it,
        // plus a Python 2 STRING and LONG.
        const auto tree = unpickle(lit(
            "(dp0\nVa\np1\n(lp2\nI1\naF2.5\naVx\\u20ac\np3\naI01\nasVb\np4\nS'q\\n\\x41\\101'\np5\nsVc\nL12L\nsg1\ng2\ns."));
        const auto& root = tree.root();
        REQUIRE(root.items.size() == 8);
        const auto& l = *root.items[1];
        REQUIRE(l.items.size() == 4);
        CHECK(l.items[0]->integer == 1);
        CHECK(l.items[1]->floating == 2.5);
        CHECK(l.items[2]->text == "x\xe2\x82\xac");
        CHECK(l.items[3]->what == kind::boolean);
        CHECK(root.items[3]->text == "q\nAA");
        CHECK(root.items[5]->integer == 12);
        CHECK(root.items[7] == root.items[1]);  // GET shares the memoized list
    }
    SECTION("a list that contains itself is built, not followed") {
        const auto tree = unpickle(lit("\x80\x02]q\x00h\x00" "a."));
        CHECK(tree.root().items.at(0) == &tree.root());
    }
}

TEST_CASE("pickle.unpickle.errors_say_what_and_where", "[io][pickle][hostile]") {
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02K\x01K\x02\x85R.")),
                      "pickle: REDUCE calls a int, not one of the allowed functions (at offset 7)");
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "cnumpy\ndtype\nK\x01\x85R.")),
                      "pickle: numpy.dtype of something other than a type name (at offset 18)");
    CHECK_NOTHROW(unpickle(lit("\x80\x02}]b.")));  // a dict's BUILD (a state_dict's _metadata) is ignored...
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02]}b.")), "pickle: BUILD on a list (at offset 4)");  // ...a list's refused
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "cnumpy\nndarray\n)R.")), "pickle: numpy.ndarray cannot be called (at offset 18)");
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "cnumpy.core.multiarray\n_reconstruct\ncnumpy\ndtype\nK\x00\x85" "C\x01" "b\x87R.")),
                      Contains("numpy.core.multiarray._reconstruct of something other than numpy.ndarray"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "c_codecs\nencode\nX\x02\x00\x00\x00\xe2\x82X\x06\x00\x00\x00latin1\x86R.")),
                      Contains("_codecs.encode: text is not latin-1"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "c_codecs\nencode\nX\x01\x00\x00\x00" "aX\x05\x00\x00\x00utf-8\x86R.")),
                      Contains("_codecs.encode with an encoding other than latin1"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02]\x93.")), Contains("stack underflow"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02K\x01K\x02\x93.")), Contains("STACK_GLOBAL needs two strings"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02(.")), "pickle: stack underflow (at offset 3)");
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "1.")), Contains("no MARK to pop to"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02I12x\n.")), Contains("'12x' is not a 64-bit integer"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02" "F1.5.5\n.")), Contains("'1.5.5' is not a float"));
    CHECK_THROWS_WITH(unpickle(lit("S'abc\n.")), Contains("STRING argument is not a quoted string"));
    CHECK_THROWS_WITH(unpickle(lit("c__main__\nx")), Contains("truncated: GLOBAL has no end of line"));
    CHECK_THROWS_WITH(unpickle(lit("i__main__\nC\n.")), Contains("the pickle asks for '__main__.C'"));
    CHECK_THROWS_WITH(unpickle(lit("(icollections\nOrderedDict\n.")), Contains("the INST opcode"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x05\x97.")), Contains("the NEXT_BUFFER opcode is not supported"));
    CHECK_THROWS_WITH(unpickle(lit("\x80\x02\x82\x01.")), Contains("the EXT opcode is not supported"));
}
