// npyflow convert: any weights npyflow reads (a PyTorch checkpoint, a Keras .h5, a pickled
// .npy, a directory of .npy files, an .npz) written as one .npz of named arrays, which numpy
// and every other tool read.

#include <fmt/format.h>

#include "cli/commands.hpp"
#include "npyflow/job/job_paths.hpp"
#include "npyflow/io/dtype.hpp"
#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/npz_writer.hpp"
#include "npyflow/nn/weight_source.hpp"

namespace npyflow::cli {
namespace {

struct convert_options {
    std::filesystem::path input, output;
    std::string weights_key;
    bool compress = false;
    bool quiet = false;
};

int run_convert(const convert_options& o) {
    job_paths paths;
    paths.reads("input", o.input, true);
    paths.writes("-o", o.output);
    paths.writes("-o", partial_file::partial_path_for(o.output), true);
    paths.check();
    const weight_source weights(o.input, o.weights_key);
    if (weights.flat()) {
        throw error(fmt::format("{}: is one numeric array already; convert reads files of several named arrays",
                                weights.where()));
    }
    npz_writer out(o.output, o.compress ? npz_writer::compression::deflated : npz_writer::compression::stored);
    std::uint64_t bytes = 0;
    std::vector<std::byte> data;
    for (const auto& name : weights.names()) {
        const npy_array a = weights.load(name);
        data.resize(a.header().data_bytes());
        a.copy_rows(0, a.rows(), data);  // C order, little endian
        out.add(name, a.header().type, a.header().shape, data);
        bytes += data.size();
    }
    out.commit();
    if (!o.quiet) {
        fmt::print(stderr, "npyflow: wrote {}: {} arrays, {:.3g} MB, from {}\n", printable_path(o.output),
                   weights.names().size(), static_cast<double>(bytes) / 1e6, weights.format_name());
    }
    return 0;
}

}  // namespace

void add_convert_command(CLI::App& app, command_runner& run) {
    auto o = std::make_shared<convert_options>();
    auto* cmd = app.add_subcommand("convert",
                                   "Write weights from a PyTorch checkpoint (.pth), a Keras .h5, a pickled .npy, a "
                                   "directory of .npy files or an .npz as one .npz of named arrays");
    cmd->add_option("INPUT", o->input, "The weights")->required()->check(CLI::ExistingPath);
    cmd->add_option("-o", o->output, "The .npz to write; written as OUT.partial and renamed when complete")->required();
    cmd->add_option("--weights-key", o->weights_key,
                    "The key of the weights in a checkpoint's dict (\"state_dict\", \"model\"); found by itself when "
                    "only one dict holds arrays");
    cmd->add_flag("--compress", o->compress, "Deflate the members, as np.savez_compressed");
    cmd->add_flag("-q,--quiet", o->quiet, "No summary line");
    cmd->callback([&run, o] { run = [o] { return run_convert(*o); }; });
}

}  // namespace npyflow::cli
