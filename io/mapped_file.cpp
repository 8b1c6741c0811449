#include "npyflow/io/mapped_file.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <boost/iostreams/device/mapped_file.hpp>
#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"
#include "npyflow/io/truncation_guard.hpp"

namespace npyflow {

struct mapped_file::impl {
    boost::iostreams::mapped_file_source source;
    std::unique_ptr<truncation_guard> guard;  // set after the mapping, cleared before it goes
    ~impl() { guard.reset(); }
};

mapped_file::mapped_file(const std::filesystem::path& path) : path_(path), impl_(std::make_unique<impl>()) {
    std::error_code ec;
    const auto status = std::filesystem::status(path, ec);
    if (ec || !std::filesystem::exists(status)) {
        throw error(fmt::format("{}: cannot open: {}", printable_path(path), ec ? ec.message() : "no such file"));
    }
    if (std::filesystem::is_directory(status)) throw error(fmt::format("{}: is a directory", printable_path(path)));
    if (!std::filesystem::is_regular_file(status)) {
        // A FIFO or a device cannot be mapped (and /dev/zero would never end).
        throw error(fmt::format("{}: is a {}, not a regular file; npyflow maps the files it reads", printable_path(path),
                                file_kind(std::filesystem::canonical(path, ec)).value_or("special file")));
    }
    const auto size = std::filesystem::file_size(path, ec);
    if (ec) throw error(fmt::format("{}: cannot open: {}", printable_path(path), ec.message()));
    if (size == 0) return;  // mmap cannot map zero bytes; an empty span serves
    try {
        impl_->source.open(path.string());
    } catch (const std::exception& e) {
        throw error(fmt::format("{}: cannot map: {}", printable_path(path), e.what()));
    }
    bytes_ = {reinterpret_cast<const std::byte*>(impl_->source.data()), impl_->source.size()};
    impl_->guard = std::make_unique<truncation_guard>(bytes_.data(), bytes_.size());
}

mapped_file::~mapped_file() = default;

namespace {

void advise(std::span<const std::byte> bytes, std::uint64_t offset, std::uint64_t length, int advice) {
    if (offset >= bytes.size()) return;
    length = std::min<std::uint64_t>(length, bytes.size() - offset);
    static const auto page = static_cast<std::uintptr_t>(sysconf(_SC_PAGESIZE));
    auto begin = reinterpret_cast<std::uintptr_t>(bytes.data() + offset);
    const auto end = begin + length;
    begin &= ~(page - 1);  // madvise wants a page-aligned start
    // Advice is only a hint; failure changes nothing that is observable.
    (void)::madvise(reinterpret_cast<void*>(begin), end - begin, advice);
}

}  // namespace

void mapped_file::will_need(std::uint64_t offset, std::uint64_t length) const {
    advise(bytes_, offset, length, MADV_WILLNEED);
}

void mapped_file::dont_need(std::uint64_t offset, std::uint64_t length) const {
    advise(bytes_, offset, length, MADV_DONTNEED);
}


bool mapped_file::lost_pages() const { return impl_->guard && impl_->guard->truncated(); }

void mapped_file::check_not_truncated() const {
    std::error_code ec;
    const auto now = std::filesystem::file_size(path_, ec);
    const bool shorter = !ec && now < size();
    if (!lost_pages() && !shorter) return;
    const std::string size_now = ec ? "it is gone" : fmt::format("it is now {} bytes", now);
    throw error(fmt::format("{}: the file was truncated while being read ({}; it was {} when opened); rows "
                            "read from it cannot be trusted",
                            printable_path(path_), size_now, size()));
}

}  // namespace npyflow
