#pragma once
// A fast 64-bit hash of bytes, to notice that a file changed (a resumed job's inputs and
// weights). It detects accidental changes; it is not a cryptographic digest.

#include <bit>
#include <cstdint>
#include <cstring>
#include <span>

namespace npyflow {

inline std::uint64_t content_hash(std::span<const std::byte> bytes, std::uint64_t seed = 0) {
    constexpr std::uint64_t k1 = 0x9E3779B97F4A7C15ull, k2 = 0xC2B2AE3D27D4EB4Full;
    std::uint64_t h = seed ^ (bytes.size() * k1);
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8) {
        std::uint64_t word;
        std::memcpy(&word, bytes.data() + i, 8);
        h = std::rotl(h ^ (word * k2), 31) * k1;
    }
    std::uint64_t tail = 0;
    if (i < bytes.size()) std::memcpy(&tail, bytes.data() + i, bytes.size() - i);  // never memcpy from null
    h = std::rotl(h ^ (tail * k2), 31) * k1;
    // Final avalanche (MurmurHash3's fmix64), so nearby inputs give unrelated hashes.
    h ^= h >> 33;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    h *= 0xC4CEB9FE1A85EC53ull;
    return h ^ (h >> 33);
}

}  // namespace npyflow
