// The job layer without MPI: ranks as threads (tests/job/thread_ranks.hpp), the output heads,
// the model's predict against the scoring job, and the checks on labels and samples.

#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include <catch2/catch.hpp>

#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npy_writer.hpp"
#include "npyflow/job/job_fingerprint.hpp"
#include "npyflow/job/model.hpp"
#include "npyflow/job/output_head.hpp"
#include "npyflow/job/resumable_output.hpp"
#include "npyflow/job/score_job.hpp"
#include "tests/job/thread_ranks.hpp"
#ifdef NPYFLOW_HAVE_MPI
#include "npyflow/job/mpi_ranks.hpp"
#endif
#include "tests/test_support.hpp"

using namespace npyflow;
using npyflow::test::scratch_dir;

namespace {

const std::filesystem::path mlp_spec = std::filesystem::path(NPYFLOW_EXAMPLES) / "fashion_mnist/mlp.json";
const std::filesystem::path mlp_weights = std::filesystem::path(NPYFLOW_EXAMPLES) / "fashion_mnist/mlp.npz";

std::vector<std::uint8_t> some_images(std::uint64_t count) {
    std::vector<std::uint8_t> pixels(count * 28 * 28);
    for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<std::uint8_t>((i * 13 + i / 97) % 256);
    return pixels;
}

void save_images(const std::filesystem::path& path, const std::vector<std::uint8_t>& pixels) {
    npy_writer out(path, dtype::uint8, {pixels.size() / 784, 28, 28});
    out.write_rows(0, std::as_bytes(std::span(pixels)));
    out.commit();
}

template <typename T>
std::vector<T> values_of(const std::filesystem::path& path) {
    const npy_array a = open_npy(path);
    std::vector<T> v(a.raw_data().size() / sizeof(T));
    std::memcpy(v.data(), a.raw_data().data(), a.raw_data().size());
    return v;
}

}  // namespace

TEST_CASE("ranks: every rank gets the lowest failing rank's error from agree", "[job]") {
    const auto errors = testing::run_ranks(3, [](rank_group& ranks) {
        ranks.agree([&] {
            if (ranks.rank() >= 1) throw error(fmt::format("bad row on {}", ranks.rank()));
        });
    });
    for (const auto& e : errors) CHECK(e == "rank 1: bad row on 1");
}

#ifdef NPYFLOW_HAVE_MPI
TEST_CASE("ranks: mpi_ranks refuses an MPI the program has not initialised", "[job]") {
    // The library never initialises MPI: the program must, before handing it a communicator.
    CHECK_THROWS_WITH(mpi_ranks(MPI_COMM_WORLD), "mpi_ranks: MPI is not initialized (call MPI_Init_thread first)");
}
#endif

TEST_CASE("ranks: shares are exact and contiguous, and gather is in rank order", "[job]") {
    std::vector<row_range> shares(3);
    std::vector<std::vector<double>> gathered(3);
    testing::run_ranks(3, [&](rank_group& ranks) {
        shares[static_cast<std::size_t>(ranks.rank())] = ranks.share(10);
        gathered[static_cast<std::size_t>(ranks.rank())] = ranks.gather(ranks.rank() * 10.0);
    });
    CHECK(shares[0].begin == 0);
    CHECK(shares[0].end == shares[1].begin);
    CHECK(shares[1].end == shares[2].begin);
    CHECK(shares[2].end == 10);
    for (const auto& g : gathered) CHECK(g == std::vector<double>{0, 10, 20});
}

TEST_CASE("ranks: three ranks write their shares of one resumable output", "[job]") {
    scratch_dir dir;
    const auto out = dir / "out.npy";
    constexpr std::uint64_t rows = 10;
    job_fingerprint fingerprint("test");
    const auto errors = testing::run_ranks(3, [&](rank_group& ranks) {
        resumable_output output(out, dtype::int64, {rows}, fingerprint, {}, ranks);
        const auto share = ranks.share(rows);
        std::vector<std::int64_t> values;
        for (auto r = share.begin; r < share.end; ++r) values.push_back(static_cast<std::int64_t>(r * r));
        batch b;
        b.first_row = share.begin;
        b.rows = share.end - share.begin;
        b.data = std::as_bytes(std::span(values));
        b.sample = {dtype::int64, {}};
        output.write(b);
        output.commit(false);
    });
    for (const auto& e : errors) CHECK(e.empty());
    const auto got = values_of<std::int64_t>(out);
    REQUIRE(got.size() == rows);
    for (std::uint64_t r = 0; r < rows; ++r) CHECK(got[r] == static_cast<std::int64_t>(r * r));
}

TEST_CASE("output heads: probs is a softmax over the last axis, argmax names no class for NaN", "[job]") {
    const std::vector<float> logits{1, 2, 3, 0, 0, std::numeric_limits<float>::quiet_NaN()};
    std::vector<std::byte> out;
    apply_output_head(logits, 3, output_kind::probs, layer_kind::linear, out);
    std::vector<float> probs(6);
    std::memcpy(probs.data(), out.data(), out.size());
    const double e1 = std::exp(-2.0), e2 = std::exp(-1.0), sum = e1 + e2 + 1;
    CHECK(probs[0] == Approx(e1 / sum));
    CHECK(probs[2] == Approx(1 / sum));
    CHECK(probs[0] + probs[1] + probs[2] == Approx(1));

    apply_output_head(logits, 3, output_kind::argmax, layer_kind::linear, out);
    std::vector<std::int64_t> classes(2);
    std::memcpy(classes.data(), out.data(), out.size());
    CHECK(classes == std::vector<std::int64_t>{2, -1});

    // After a log_softmax, probs are its exp: no second softmax.
    const std::vector<float> log_probs{std::log(0.25f), std::log(0.75f)};
    apply_output_head(log_probs, 2, output_kind::probs, layer_kind::log_softmax, out);
    float p[2];
    std::memcpy(p, out.data(), sizeof(p));
    CHECK(p[1] == Approx(0.75f));
    CHECK_THROWS_WITH(parse_output_kind("softmax"), "output kind 'softmax' is not one of logits, probs, argmax");
}

TEST_CASE("model: predict on samples in memory gives the scoring job's outputs", "[job]") {
    scratch_dir dir;
    const auto pixels = some_images(70);
    save_images(dir / "images.npy", pixels);
    const model m(mlp_spec, mlp_weights);
    const auto predicted = m.predict(std::as_bytes(std::span(pixels)), {dtype::uint8, {28, 28}});
    REQUIRE(predicted.size() == 70 * 10);

    // An array's rows: in place (the file is C order), or converted (the same values saved in
    // Fortran order).
    CHECK(m.predict(open_npy(dir / "images.npy")) == predicted);
    {
        const std::uint64_t n = 70;
        std::string header = "{'descr': '|u1', 'fortran_order': True, 'shape': (70, 28, 28), }";
        header.append(64 - (10 + header.size() + 1) % 64, ' ').push_back('\n');
        std::string file = std::string("\x93NUMPY\x01\x00", 8);
        file.push_back(static_cast<char>(header.size() & 0xff));
        file.push_back(static_cast<char>(header.size() >> 8));
        file += header;
        for (std::uint64_t c = 0; c < 28; ++c) {  // Fortran order: the first axis varies fastest
            for (std::uint64_t b = 0; b < 28; ++b) {
                for (std::uint64_t a = 0; a < n; ++a) file.push_back(static_cast<char>(pixels[(a * 28 + b) * 28 + c]));
            }
        }
        auto owner = std::make_shared<std::string>(file);
        const npy_array fortran = parse_npy(std::as_bytes(std::span(*owner)), owner, "fortran.npy");
        REQUIRE_FALSE(fortran.header().is_native_layout());
        CHECK(m.predict(fortran) == predicted);
    }

    score_job job;
    job.inputs = {dir / "images.npy"};
    job.output = dir / "scores.npy";
    job.model = mlp_spec;
    job.weights = mlp_weights;
    job.inference = inference_mode::streams;
    job.pipeline.batch_rows = 16;
    job.pipeline.threads = 2;
    one_process alone;
    const auto report = run_score_job(job, alone);
    CHECK(report.run.pipeline.rows == 70);
    CHECK(report.output_shape == std::vector<std::uint64_t>{70, 10});
    CHECK(values_of<float>(dir / "scores.npy") == predicted);

    // The same job's classes, counted against labels that are those classes: every one right.
    const auto classes = m.classes(predicted);
    {
        npy_writer labels(dir / "labels.npy", dtype::int64, {70});
        labels.write_rows(0, std::as_bytes(std::span(classes)));
        labels.commit();
    }
    job.labels = dir / "labels.npy";
    job.kind = output_kind::argmax;
    job.output = dir / "classes.npy";
    const auto counted = run_score_job(job, alone);
    REQUIRE(counted.correct);
    CHECK(*counted.correct == 70);
    CHECK(values_of<std::int64_t>(dir / "classes.npy") == classes);
}

TEST_CASE("model and scoring job: bad samples and labels are refused with the reason", "[job]") {
    scratch_dir dir;
    const model m(mlp_spec, mlp_weights);
    const std::vector<float> short_sample(100);
    CHECK_THROWS_WITH(m.predict(std::as_bytes(std::span(short_sample)), {dtype::float32, {28, 28}}),
                      "predict: 400 bytes are not a whole number of samples of float32 (28, 28)");
    const std::vector<std::uint8_t> wide(2 * 30 * 30);
    CHECK_THROWS_WITH(m.predict(std::as_bytes(std::span(wide)), {dtype::uint8, {30, 30}}),
                      Catch::Contains("mlp.json: preprocess[3] (reshape): cannot reshape samples (30, 30)"));

    save_images(dir / "images.npy", some_images(5));
    std::vector<std::int64_t> labels{0, 1, 2, 10, 4};
    {
        npy_writer out(dir / "labels.npy", dtype::int64, {5});
        out.write_rows(0, std::as_bytes(std::span(labels)));
        out.commit();
    }
    score_job job;
    job.inputs = {dir / "images.npy"};
    job.output = dir / "scores.npy";
    job.model = mlp_spec;
    job.weights = mlp_weights;
    job.labels = dir / "labels.npy";
    one_process alone;
    CHECK_THROWS_WITH(run_score_job(job, alone),
                      Catch::Contains("row 3 holds 10, which is not a class index of this network (0 to 9)"));
    CHECK_FALSE(std::filesystem::exists(dir / "scores.npy"));
}
