#pragma once
// Writing .npz archives that numpy's np.load reads: one .npy member per array, stored or
// deflated, zip64 records where sizes or offsets need them. Like every npyflow output the
// archive appears under its real name only on commit().

#include <cstdint>
#include <filesystem>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/dtype.hpp"
#include "npyflow/io/partial_file.hpp"

namespace npyflow {

class npz_writer {
public:
    enum class compression { stored, deflated };

    // force_zip64 writes zip64 records even where sizes fit in 32 bits, as numpy does.
    explicit npz_writer(std::filesystem::path path, compression how = compression::stored, bool force_zip64 = false);

    // Adds key.npy holding data (C order, little endian) of the given type and shape.
    void add(std::string_view key, dtype type, const std::vector<std::uint64_t>& shape,
             std::span<const std::byte> data);

    // Writes the central directory, flushes and renames into place.
    void commit();

private:
    struct entry {
        std::string file_name;
        bool deflated;
        std::uint32_t crc32;
        std::uint64_t compressed_size;
        std::uint64_t uncompressed_size;
        std::uint64_t local_offset;
    };
    static void append_entry_fields(std::string& out, const entry& e, bool zip64, std::size_t extra_length);

    partial_file file_;
    compression how_;
    bool force_zip64_;
    std::vector<entry> entries_;
    std::set<std::string, std::less<>> keys_;
    std::uint64_t offset_ = 0;
};

}  // namespace npyflow
