#pragma once
// Reading .npz archives (zip files of .npy members, as np.savez and np.savez_compressed
// write them): stored and deflated members, zip64, data descriptors. Sizes come from the
// central directory; every member's CRC-32 is checked when its data is read.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "npyflow/io/npy_array.hpp"
#include "npyflow/io/npy_header.hpp"

namespace npyflow {

struct npz_member {
    std::string key;        // the name without ".npy", an opaque string: "dense/kernel:0"
    std::string file_name;  // the name as stored in the archive
    bool deflated = false;  // else stored
    std::uint32_t crc32 = 0;
    std::uint64_t compressed_size = 0;
    std::uint64_t uncompressed_size = 0;
    std::uint64_t data_offset = 0;  // of the (possibly compressed) data in the archive
};

// Parses the central directory of a zip archive held in `bytes` and resolves each
// member's data offset through its local header. Pure: no I/O, so it can be fuzzed.
// Throws npyflow::error on anything malformed, truncated, encrypted or duplicated.
std::vector<npz_member> parse_zip_directory(std::span<const std::byte> bytes);

// The same for a zip of any members (a torch.save checkpoint): names need not end in .npy,
// and each member's key is its whole name.
std::vector<npz_member> parse_zip_members(std::span<const std::byte> bytes);

// Pulls one member's bytes (npy header and data) in order, inflating if needed; checks
// at the end that the size and CRC-32 match the central directory. Its errors do not
// name the member: callers add that (npz_archive::where).
class npz_member_reader {
public:
    npz_member_reader(std::span<const std::byte> archive, const npz_member& member);
    ~npz_member_reader();
    npz_member_reader(npz_member_reader&&) noexcept;
    npz_member_reader& operator=(npz_member_reader&&) noexcept;

    // Fills dst; returns fewer bytes only at the end of the member.
    std::size_t read(std::span<std::byte> dst);

private:
    struct impl;
    std::unique_ptr<impl> impl_;
};

class npz_archive {
public:
    // Maps the archive and parses its directory; reads no member data.
    explicit npz_archive(const std::filesystem::path& path);
    // An archive already in memory; `owner` keeps `bytes` alive, `name` is used in messages.
    npz_archive(std::span<const std::byte> bytes, std::shared_ptr<const void> owner, std::string name);

    const std::string& name() const { return name_; }
    const std::vector<npz_member>& members() const { return members_; }
    const npz_member* find(std::string_view key) const;

    // The member's npy header, checked against the member's size. A deflated member is
    // inflated only as far as its header.
    npy_header read_header(const npz_member& member) const;

    // The whole member, CRC-checked: stored members are served in place from the mapping,
    // deflated ones are inflated into a buffer the array owns.
    npy_array load(const npz_member& member) const;

    npz_member_reader open(const npz_member& member) const;

    // "w.npz: dense/kernel:0", for messages.
    std::string where(const npz_member& member) const;

private:
    std::span<const std::byte> bytes_;
    std::shared_ptr<const void> owner_;
    std::string name_;
    std::vector<npz_member> members_;
};

}  // namespace npyflow
