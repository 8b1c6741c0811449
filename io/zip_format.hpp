#pragma once
// Zip record layouts (PKWARE APPNOTE 6.3) shared by the npz reader and writer.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace npyflow::zip {

inline constexpr std::uint32_t local_header_signature = 0x04034b50;
inline constexpr std::uint32_t central_header_signature = 0x02014b50;
inline constexpr std::uint32_t end_of_central_directory_signature = 0x06054b50;
inline constexpr std::uint32_t zip64_end_of_central_directory_signature = 0x06064b50;
inline constexpr std::uint32_t zip64_locator_signature = 0x07064b50;
inline constexpr std::uint16_t zip64_extra_id = 0x0001;

inline constexpr std::size_t local_header_size = 30;
inline constexpr std::size_t central_header_size = 46;
inline constexpr std::size_t end_of_central_directory_size = 22;
inline constexpr std::size_t zip64_end_of_central_directory_size = 56;
inline constexpr std::size_t zip64_locator_size = 20;

inline constexpr std::uint16_t method_stored = 0;
inline constexpr std::uint16_t method_deflated = 8;
inline constexpr std::uint16_t flag_encrypted = 0x0001;
inline constexpr std::uint16_t flag_utf8 = 0x0800;

// 32-bit fields hold this when the real value is in the zip64 extra field.
inline constexpr std::uint32_t zip64_marker = 0xFFFFFFFF;
inline constexpr std::uint16_t zip64_marker16 = 0xFFFF;

// Deflate cannot expand data by more than about 1032:1; a member claiming more is bogus.
inline constexpr std::uint64_t max_deflate_ratio = 1032;

// Little-endian field access; the caller has checked the bounds.
inline std::uint64_t read_le(std::span<const std::byte> bytes, std::size_t offset, std::size_t width) {
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < width; ++i) {
        v |= std::uint64_t{std::to_integer<std::uint8_t>(bytes[offset + i])} << (8 * i);
    }
    return v;
}

// Appends value as a little-endian field of width bytes (at most 8).
inline void append_le(std::string& out, std::uint64_t value, std::size_t width) {
    for (std::size_t i = 0; i < width; ++i) out.push_back(static_cast<char>((value >> (8 * i)) & 0xFF));
}

}  // namespace npyflow::zip
