// Converts an IDX file (the MNIST family's format; gzipped or not) to .npy with npyflow's writer.
//
// usage: idx_to_npy INPUT.idx[.gz] OUTPUT.npy
//
// IDX: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, then each
// dimension as a big-endian uint32, then the data in C order.
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

#include <boost/iostreams/copy.hpp>
#include <boost/iostreams/filter/gzip.hpp>
#include <boost/iostreams/filtering_stream.hpp>
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/npy_writer.hpp"

namespace {

std::vector<unsigned char> read_maybe_gzipped(const std::string& path) {
    std::ifstream file(path, std::ios::binary);
    if (!file) throw npyflow::error(fmt::format("{}: cannot open", path));
    boost::iostreams::filtering_istream in;
    if (path.ends_with(".gz")) in.push(boost::iostreams::gzip_decompressor());
    in.push(file);
    std::vector<unsigned char> bytes;
    try {
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    } catch (const std::exception& e) {
        throw npyflow::error(fmt::format("{}: cannot decompress: {}", path, e.what()));
    }
    return bytes;
}

}  // namespace

int main(int argc, char** argv) try {
    if (argc != 3) {
        std::fprintf(stderr, "usage: idx_to_npy INPUT.idx[.gz] OUTPUT.npy\n");
        return 2;
    }
    const auto bytes = read_maybe_gzipped(argv[1]);
    if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0) {
        throw npyflow::error(fmt::format("{}: not an IDX file (bad magic)", argv[1]));
    }
    if (bytes[2] != 0x08) throw npyflow::error(fmt::format("{}: IDX type 0x{:02x}; only uint8 (0x08) is supported", argv[1], bytes[2]));
    const std::size_t ndim = bytes[3];
    if (ndim == 0 || bytes.size() < 4 + 4 * ndim) throw npyflow::error(fmt::format("{}: truncated IDX header", argv[1]));
    std::vector<std::uint64_t> shape;
    std::uint64_t count = 1;
    for (std::size_t d = 0; d < ndim; ++d) {
        const unsigned char* p = bytes.data() + 4 + 4 * d;
        shape.push_back(std::uint64_t{p[0]} << 24 | std::uint64_t{p[1]} << 16 | std::uint64_t{p[2]} << 8 | p[3]);
        count *= shape.back();
    }
    const std::size_t data_at = 4 + 4 * ndim;
    if (bytes.size() - data_at != count) {
        throw npyflow::error(fmt::format("{}: IDX header declares {} values, the file holds {}", argv[1], count,
                                         bytes.size() - data_at));
    }
    npyflow::write_npy(argv[2], npyflow::dtype::uint8, shape,
                       std::as_bytes(std::span(bytes)).subspan(data_at, count));
    std::printf("%s: uint8 %s\n", argv[2], npyflow::format_shape(shape).c_str());
    return 0;
} catch (const npyflow::error& e) {
    std::fprintf(stderr, "idx_to_npy: error: %s\n", e.what());
    return 1;
}
