#include "npyflow/io/npz_archive.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <istream>
#include <optional>
#include <unordered_set>

#include <boost/iostreams/device/array.hpp>
#include <boost/iostreams/filter/zlib.hpp>
#include <boost/iostreams/filtering_stream.hpp>
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/mapped_file.hpp"
#include "npyflow/io/zip_format.hpp"

namespace npyflow {
namespace {

namespace bio = boost::iostreams;
using zip::read_le;

// Bounds-checked view of the archive: every read names what it was reading.
class archive_bytes {
public:
    explicit archive_bytes(std::span<const std::byte> bytes) : bytes_(bytes) {}
    std::uint64_t size() const { return bytes_.size(); }

    bool fits(std::uint64_t offset, std::uint64_t length) const {
        return offset <= bytes_.size() && length <= bytes_.size() - offset;
    }
    void require(std::uint64_t offset, std::uint64_t length, std::string_view what) const {
        if (!fits(offset, length)) {
            throw error(fmt::format("{} at offset {} runs past the end of the archive ({} bytes); truncated?", what,
                                    offset, bytes_.size()));
        }
    }
    std::uint64_t le(std::uint64_t offset, std::size_t width) const {
        return read_le(bytes_, static_cast<std::size_t>(offset), width);
    }
    std::string_view text(std::uint64_t offset, std::uint64_t length) const {
        return {reinterpret_cast<const char*>(bytes_.data() + offset), static_cast<std::size_t>(length)};
    }

private:
    std::span<const std::byte> bytes_;
};

struct directory_location {
    std::uint64_t entries = 0;
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
};

directory_location find_central_directory(const archive_bytes& in) {
    using namespace zip;
    if (in.size() < end_of_central_directory_size) {
        throw error(fmt::format("not a zip archive: {} bytes is too short", in.size()));
    }
    // The end record sits at the very end, followed only by a comment of up to 64 KiB.
    const std::uint64_t last = in.size() - end_of_central_directory_size;
    const std::uint64_t first = last > 0xFFFF ? last - 0xFFFF : 0;
    std::optional<std::uint64_t> eocd;
    for (std::uint64_t pos = last + 1; pos-- > first;) {
        if (in.le(pos, 4) == end_of_central_directory_signature) {
            eocd = pos;
            break;
        }
    }
    if (!eocd) throw error("not a zip archive or truncated: no end of central directory record");

    const std::uint64_t disk = in.le(*eocd + 4, 2);
    const std::uint64_t directory_disk = in.le(*eocd + 6, 2);
    directory_location loc{in.le(*eocd + 10, 2), in.le(*eocd + 16, 4), in.le(*eocd + 12, 4)};
    const bool zip64 = loc.entries == zip64_marker16 || loc.offset == zip64_marker || loc.size == zip64_marker;
    if (zip64) {
        if (*eocd < zip64_locator_size || in.le(*eocd - zip64_locator_size, 4) != zip64_locator_signature) {
            throw error("zip64 end of central directory locator is missing");
        }
        const std::uint64_t record = in.le(*eocd - zip64_locator_size + 8, 8);
        in.require(record, zip64_end_of_central_directory_size, "zip64 end of central directory record");
        if (in.le(record, 4) != zip64_end_of_central_directory_signature) {
            throw error(fmt::format("bad zip64 end of central directory record at offset {}", record));
        }
        loc = {in.le(record + 32, 8), in.le(record + 48, 8), in.le(record + 40, 8)};
    } else if (disk != 0 || directory_disk != 0) {
        throw error("multi-volume zip archives are not supported");
    }
    in.require(loc.offset, loc.size, "central directory");
    return loc;
}

// Replaces 32-bit sizes and offsets that hold the zip64 marker with the values from the
// zip64 extra field, which lists only the replaced fields, in this order.
void apply_zip64_extra(const archive_bytes& in, std::uint64_t extra, std::uint64_t extra_end, npz_member& m,
                       std::uint64_t& local_offset) {
    using namespace zip;
    while (extra + 4 <= extra_end) {
        const std::uint64_t id = in.le(extra, 2);
        const std::uint64_t length = in.le(extra + 2, 2);
        const std::uint64_t body = extra + 4;
        if (body + length > extra_end) throw error(fmt::format("member '{}': extra field runs past its entry", m.file_name));
        if (id == zip64_extra_id) {
            std::uint64_t at = body;
            auto take = [&](std::uint64_t& field) {
                if (field != zip64_marker) return;
                if (at + 8 > body + length) throw error(fmt::format("member '{}': zip64 extra field is too short", m.file_name));
                field = in.le(at, 8);
                at += 8;
            };
            take(m.uncompressed_size);
            take(m.compressed_size);
            take(local_offset);
        }
        extra = body + length;
    }
}

std::string crc_mismatch(std::uint32_t expected, std::uint32_t actual) {
    return fmt::format("CRC-32 mismatch (directory 0x{:08x}, data 0x{:08x})", expected, actual);
}

}  // namespace

namespace {

std::vector<npz_member> parse_zip(std::span<const std::byte> bytes, bool npy_members) {
    using namespace zip;
    const archive_bytes in(bytes);
    const directory_location dir = find_central_directory(in);
    // Each entry takes at least 46 bytes: a count larger than that is a lie, not a reason to reserve.
    if (dir.entries > dir.size / central_header_size) {
        throw error(fmt::format("central directory claims {} entries in {} bytes", dir.entries, dir.size));
    }

    std::vector<npz_member> members;
    std::unordered_set<std::string> names;
    std::uint64_t pos = dir.offset;
    const std::uint64_t end = dir.offset + dir.size;
    for (std::uint64_t i = 0; i < dir.entries; ++i) {
        if (pos + central_header_size > end || in.le(pos, 4) != central_header_signature) {
            throw error(fmt::format("central directory entry {} is damaged (offset {})", i, pos));
        }
        npz_member m;
        const auto flags = in.le(pos + 8, 2);
        const auto method = in.le(pos + 10, 2);
        m.crc32 = static_cast<std::uint32_t>(in.le(pos + 16, 4));
        m.compressed_size = in.le(pos + 20, 4);
        m.uncompressed_size = in.le(pos + 24, 4);
        const auto name_length = in.le(pos + 28, 2);
        const auto extra_length = in.le(pos + 30, 2);
        const auto comment_length = in.le(pos + 32, 2);
        std::uint64_t local_offset = in.le(pos + 42, 4);
        const std::uint64_t name_at = pos + central_header_size;
        const std::uint64_t entry_end = name_at + name_length + extra_length + comment_length;
        if (entry_end > end) throw error(fmt::format("central directory entry {} runs past the directory", i));
        m.file_name = std::string(in.text(name_at, name_length));
        apply_zip64_extra(in, name_at + name_length, name_at + name_length + extra_length, m, local_offset);
        pos = entry_end;

        const auto where = [&] { return fmt::format("member '{}'", m.file_name); };
        if (!names.insert(m.file_name).second) throw error(fmt::format("{} appears twice in the archive", where()));
        if (npy_members && !m.file_name.ends_with(".npy")) {
            throw error(fmt::format("{} is not an .npy array (its name does not end in .npy)", where()));
        }
        m.key = npy_members ? m.file_name.substr(0, m.file_name.size() - 4) : m.file_name;
        if (flags & flag_encrypted) throw error(fmt::format("{} is encrypted", where()));
        if (method != method_stored && method != method_deflated) {
            throw error(fmt::format("{} uses compression method {}; only stored (0) and deflated (8) are supported",
                                    where(), method));
        }
        m.deflated = method == method_deflated;
        if (!m.deflated && m.compressed_size != m.uncompressed_size) {
            throw error(fmt::format("{} is stored but its sizes disagree ({} and {} bytes)", where(),
                                    m.compressed_size, m.uncompressed_size));
        }
        if (m.deflated && m.uncompressed_size > m.compressed_size * max_deflate_ratio + 1024) {
            throw error(fmt::format("{} claims {} bytes inflated from {}, more than deflate can produce", where(),
                                    m.uncompressed_size, m.compressed_size));
        }

        // The local header repeats the name; its own sizes may be zero or zip64 markers
        // (data descriptors, numpy's forced zip64), so only its lengths are used.
        in.require(local_offset, local_header_size, fmt::format("local header of {}", where()));
        if (in.le(local_offset, 4) != local_header_signature) {
            throw error(fmt::format("local header of {} is missing or damaged (offset {})", where(), local_offset));
        }
        const auto local_name_length = in.le(local_offset + 26, 2);
        const auto local_extra_length = in.le(local_offset + 28, 2);
        in.require(local_offset + local_header_size, local_name_length, fmt::format("local header of {}", where()));
        if (in.text(local_offset + local_header_size, local_name_length) != m.file_name) {
            throw error(fmt::format("local and central headers of {} disagree on its name", where()));
        }
        m.data_offset = local_offset + local_header_size + local_name_length + local_extra_length;
        in.require(m.data_offset, m.compressed_size, fmt::format("data of {}", where()));
        members.push_back(std::move(m));
    }
    return members;
}

}  // namespace

std::vector<npz_member> parse_zip_directory(std::span<const std::byte> bytes) { return parse_zip(bytes, true); }
std::vector<npz_member> parse_zip_members(std::span<const std::byte> bytes) { return parse_zip(bytes, false); }

// ---- npz_member_reader ----

struct npz_member_reader::impl {
    std::span<const std::byte> stored;  // stored members: the rest of the data, read in place
    std::unique_ptr<bio::filtering_istream> inflate;
    std::uint64_t expected_size = 0;
    std::uint32_t expected_crc = 0;
    std::uint64_t produced = 0;
    uLong crc = crc32(0L, Z_NULL, 0);
    bool finished = false;

    std::size_t pull(std::span<std::byte> dst) {
        if (!inflate) {
            const std::size_t n = std::min(dst.size(), stored.size());
            std::memcpy(dst.data(), stored.data(), n);
            stored = stored.subspan(n);
            return n;
        }
        try {
            inflate->read(reinterpret_cast<char*>(dst.data()), static_cast<std::streamsize>(dst.size()));
        } catch (const std::exception& e) {
            throw error(fmt::format("corrupt deflate data ({})", e.what()));
        }
        if (inflate->bad()) throw error("corrupt deflate data");
        return static_cast<std::size_t>(inflate->gcount());
    }

    void check_end() {
        // Inflating past the declared size would mean the directory lies; one probe byte tells.
        std::byte probe{};
        if (pull({&probe, 1}) != 0 || produced != expected_size) {
            throw error(fmt::format("inflated size disagrees with the directory's {} bytes", expected_size));
        }
        if (crc != expected_crc) throw error(crc_mismatch(expected_crc, static_cast<std::uint32_t>(crc)));
        finished = true;
    }
};

npz_member_reader::npz_member_reader(std::span<const std::byte> archive, const npz_member& member)
    : impl_(std::make_unique<impl>()) {
    const auto data = archive.subspan(member.data_offset, member.compressed_size);
    impl_->expected_size = member.uncompressed_size;
    impl_->expected_crc = member.crc32;
    if (member.deflated) {
        // Raw deflate (no zlib header), as zip stores it.
        bio::zlib_params params;
        params.noheader = true;
        impl_->inflate = std::make_unique<bio::filtering_istream>();
        impl_->inflate->push(bio::zlib_decompressor(params));
        impl_->inflate->push(bio::array_source(reinterpret_cast<const char*>(data.data()), data.size()));
    } else {
        impl_->stored = data;
    }
}

npz_member_reader::~npz_member_reader() = default;
npz_member_reader::npz_member_reader(npz_member_reader&&) noexcept = default;
npz_member_reader& npz_member_reader::operator=(npz_member_reader&&) noexcept = default;

std::size_t npz_member_reader::read(std::span<std::byte> dst) {
    auto& s = *impl_;
    if (s.finished) return 0;
    const std::uint64_t left = s.expected_size - s.produced;
    const std::size_t want = static_cast<std::size_t>(std::min<std::uint64_t>(dst.size(), left));
    const std::size_t got = want == 0 ? 0 : s.pull(dst.first(want));
    s.crc = crc32_z(s.crc, reinterpret_cast<const Bytef*>(dst.data()), got);
    s.produced += got;
    if (got < want) {
        throw error(fmt::format("data ends after {} of {} bytes", s.produced, s.expected_size));
    }
    if (s.produced == s.expected_size) s.check_end();
    return got;
}

// ---- npz_archive ----

npz_archive::npz_archive(std::span<const std::byte> bytes, std::shared_ptr<const void> owner, std::string name)
    : bytes_(bytes), owner_(std::move(owner)), name_(std::move(name)) {
    members_ = with_context(name_, [&] { return parse_zip_directory(bytes_); });
}

namespace {
npz_archive map_archive(const std::filesystem::path& path) {
    auto file = std::make_shared<const mapped_file>(path);
    const auto bytes = file->bytes();
    return npz_archive(bytes, std::move(file), path.string());
}
}  // namespace

npz_archive::npz_archive(const std::filesystem::path& path) : npz_archive(map_archive(path)) {}

const npz_member* npz_archive::find(std::string_view key) const {
    const auto it = std::find_if(members_.begin(), members_.end(), [&](const auto& m) { return m.key == key; });
    return it == members_.end() ? nullptr : &*it;
}

std::string npz_archive::where(const npz_member& member) const {
    return fmt::format("{}: {}", name_, member.key);
}

npz_member_reader npz_archive::open(const npz_member& member) const {
    return npz_member_reader(bytes_, member);
}

npy_header npz_archive::read_header(const npz_member& member) const {
    return with_context(where(member), [&] {
        // The preamble first, then exactly the rest of the header: no data is read.
        std::vector<std::byte> prefix(npy_preamble_length);
        auto reader = open(member);
        prefix.resize(reader.read(prefix));
        const std::size_t have = prefix.size();
        prefix.resize(std::max(have, npy_prefix_length(prefix)));
        prefix.resize(have + reader.read(std::span(prefix).subspan(have)));
        npy_header header = parse_npy_header(prefix, member.uncompressed_size);
        if (header.data_offset + header.data_bytes() != member.uncompressed_size) {
            throw error(fmt::format("member size {} bytes disagrees with its npy header ({} {}: {} + {} bytes)",
                                    member.uncompressed_size, format_shape(header.shape), npyflow::name(header.type),
                                    header.data_offset, header.data_bytes()));
        }
        return header;
    });
}

npy_array npz_archive::load(const npz_member& member) const {
    read_header(member);  // size and header checks before anything large is allocated
    if (!member.deflated) {
        const auto bytes = bytes_.subspan(member.data_offset, member.uncompressed_size);
        const auto crc = static_cast<std::uint32_t>(crc32_z(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
        if (crc != member.crc32) throw error(fmt::format("{}: {}", where(member), crc_mismatch(member.crc32, crc)));
        return parse_npy(bytes, owner_, where(member));
    }
    auto buffer = std::make_shared<std::vector<std::byte>>(member.uncompressed_size);
    with_context(where(member), [&] { open(member).read(*buffer); });
    return parse_npy(*buffer, buffer, where(member));
}

}  // namespace npyflow
