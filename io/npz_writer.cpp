#include "npyflow/io/npz_writer.hpp"

#include <zlib.h>

#include <boost/iostreams/device/back_inserter.hpp>
#include <boost/iostreams/filter/zlib.hpp>
#include <boost/iostreams/filtering_stream.hpp>
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/npy_header.hpp"
#include "npyflow/io/zip_format.hpp"

namespace npyflow {
namespace {

namespace bio = boost::iostreams;
using zip::append_le;

// Zip's fixed "version needed to extract": 2.0 for deflate, 4.5 for zip64.
constexpr std::uint16_t version_deflate = 20;
constexpr std::uint16_t version_zip64 = 45;
// Any fixed DOS date keeps archives reproducible: 1980-01-01 00:00.
constexpr std::uint32_t dos_date_time = (1u << 5 | 1u) << 16;

std::string deflate(std::string_view raw) {
    std::vector<char> out;
    bio::zlib_params params;
    params.noheader = true;  // raw deflate, as zip stores it
    bio::filtering_ostream stream;
    stream.push(bio::zlib_compressor(params));
    stream.push(bio::back_inserter(out));
    stream.write(raw.data(), static_cast<std::streamsize>(raw.size()));
    stream.reset();  // flushes the compressor's final block
    return {out.begin(), out.end()};
}

bool over_32_bits(std::uint64_t compressed, std::uint64_t uncompressed, std::uint64_t offset) {
    return compressed >= zip::zip64_marker || uncompressed >= zip::zip64_marker || offset >= zip::zip64_marker;
}

// The zip64 extra field: both sizes and, in the central directory, the local offset.
std::string zip64_extra(std::uint64_t compressed, std::uint64_t uncompressed, const std::uint64_t* offset) {
    std::string extra;
    append_le(extra, zip::zip64_extra_id, 2);
    append_le(extra, offset ? 24 : 16, 2);
    append_le(extra, uncompressed, 8);
    append_le(extra, compressed, 8);
    if (offset) append_le(extra, *offset, 8);
    return extra;
}

}  // namespace

// The run of fields local and central headers share, from "version needed" to "extra length".
void npz_writer::append_entry_fields(std::string& out, const entry& e, bool zip64, std::size_t extra_length) {
    append_le(out, zip64 ? version_zip64 : version_deflate, 2);
    append_le(out, zip::flag_utf8, 2);
    append_le(out, e.deflated ? zip::method_deflated : zip::method_stored, 2);
    append_le(out, dos_date_time, 4);
    append_le(out, e.crc32, 4);
    append_le(out, zip64 ? zip::zip64_marker : e.compressed_size, 4);
    append_le(out, zip64 ? zip::zip64_marker : e.uncompressed_size, 4);
    append_le(out, e.file_name.size(), 2);
    append_le(out, extra_length, 2);
}

npz_writer::npz_writer(std::filesystem::path path, compression how, bool force_zip64)
    : file_(std::move(path)), how_(how), force_zip64_(force_zip64) {}

void npz_writer::add(std::string_view key, dtype type, const std::vector<std::uint64_t>& shape,
                     std::span<const std::byte> data) {
    if (!keys_.insert(std::string(key)).second) {
        throw error(fmt::format("{}: member '{}' added twice", file_.path().string(), key));
    }
    std::uint64_t expected = itemsize(type);
    for (auto d : shape) expected *= d;
    if (expected != data.size()) {
        throw error(fmt::format("{}: member '{}': {} {} needs {} bytes, got {}", file_.path().string(), key,
                                format_shape(shape), name(type), expected, data.size()));
    }

    std::string member = format_npy_header(type, shape);
    member.append(reinterpret_cast<const char*>(data.data()), data.size());
    entry e{std::string(key) + ".npy", how_ == compression::deflated, 0, 0, member.size(), offset_};
    e.crc32 = static_cast<std::uint32_t>(
        crc32_z(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(member.data()), member.size()));
    const std::string body = e.deflated ? deflate(member) : std::move(member);
    e.compressed_size = body.size();

    const bool zip64 = force_zip64_ || over_32_bits(e.compressed_size, e.uncompressed_size, 0);
    const std::string extra = zip64 ? zip64_extra(e.compressed_size, e.uncompressed_size, nullptr) : "";
    std::string header;
    append_le(header, zip::local_header_signature, 4);
    append_entry_fields(header, e, zip64, extra.size());
    header += e.file_name;
    header += extra;

    file_.write_at(offset_, std::as_bytes(std::span(header)));
    file_.write_at(offset_ + header.size(), std::as_bytes(std::span(body)));
    offset_ += header.size() + body.size();
    entries_.push_back(std::move(e));
}

void npz_writer::commit() {
    std::string directory;
    for (const auto& e : entries_) {
        const bool zip64 = force_zip64_ || over_32_bits(e.compressed_size, e.uncompressed_size, e.local_offset);
        const std::string extra = zip64 ? zip64_extra(e.compressed_size, e.uncompressed_size, &e.local_offset) : "";
        append_le(directory, zip::central_header_signature, 4);
        append_le(directory, zip64 ? version_zip64 : version_deflate, 2);  // version made by (MS-DOS)
        append_entry_fields(directory, e, zip64, extra.size());
        directory.append(2 + 2 + 2 + 4, '\0');  // comment length, disk, internal and external attributes
        append_le(directory, zip64 ? zip::zip64_marker : e.local_offset, 4);
        directory += e.file_name;
        directory += extra;
    }

    const std::uint64_t directory_offset = offset_;
    const std::uint64_t count = entries_.size();
    const bool zip64 = force_zip64_ || count >= zip::zip64_marker16 || directory_offset >= zip::zip64_marker ||
                       directory.size() >= zip::zip64_marker;
    std::string end;
    if (zip64) {
        const std::uint64_t record_offset = directory_offset + directory.size();
        append_le(end, zip::zip64_end_of_central_directory_signature, 4);
        append_le(end, zip::zip64_end_of_central_directory_size - 12, 8);  // size of the rest of the record
        append_le(end, version_zip64, 2);
        append_le(end, version_zip64, 2);
        end.append(4 + 4, '\0');  // this disk, directory's disk
        append_le(end, count, 8);
        append_le(end, count, 8);
        append_le(end, directory.size(), 8);
        append_le(end, directory_offset, 8);
        append_le(end, zip::zip64_locator_signature, 4);
        append_le(end, 0, 4);
        append_le(end, record_offset, 8);
        append_le(end, 1, 4);  // total disks
    }
    append_le(end, zip::end_of_central_directory_signature, 4);
    end.append(2 + 2, '\0');  // this disk, directory's disk
    append_le(end, zip64 ? zip::zip64_marker16 : count, 2);
    append_le(end, zip64 ? zip::zip64_marker16 : count, 2);
    append_le(end, zip64 ? zip::zip64_marker : directory.size(), 4);
    append_le(end, zip64 ? zip::zip64_marker : directory_offset, 4);
    append_le(end, 0, 2);  // comment length

    file_.write_at(offset_, std::as_bytes(std::span(directory)));
    file_.write_at(offset_ + directory.size(), std::as_bytes(std::span(end)));
    file_.commit();
}

}  // namespace npyflow
