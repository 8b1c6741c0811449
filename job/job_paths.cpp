#include "npyflow/job/job_paths.hpp"

#include <unistd.h>

#include <cerrno>
#include <climits>

#include <fmt/format.h>

#include "npyflow/io/error.hpp"
#include "npyflow/io/file_identity.hpp"

namespace npyflow {
namespace {

namespace fs = std::filesystem;

fs::path directory_of(const fs::path& path) { return path.has_parent_path() ? path.parent_path() : fs::path("."); }

// The path with "." and ".." resolved and symlinked directories followed, as far as it
// exists; the rest as written. Two names for one place compare equal.
fs::path resolved(const fs::path& path) {
    std::error_code ec;
    const auto p = fs::weakly_canonical(fs::absolute(path, ec), ec);
    return ec ? path.lexically_normal() : p;
}

bool inside(const fs::path& path, const fs::path& dir) {
    const auto rel = resolved(path).lexically_relative(resolved(dir));
    return !rel.empty() && *rel.begin() != "..";
}

void check_name(const std::string& role, const fs::path& path, bool temporary) {
    const std::string shown = printable_path(path);
    if (path.empty()) throw error(fmt::format("{}: needs a file name, got \"\"", role));
    if (path == "-") {
        throw error(fmt::format("{}: '-' (standard output) is not supported; name a file (a file named '-' can be "
                                "given as ./-)",
                                role));
    }
    const auto name = path.filename();
    std::error_code ec;
    // (A directory where a temporary file goes is check_kind's to report: it is in the way.)
    if (name.empty() || name == "." || name == ".." || (!temporary && fs::is_directory(path, ec))) {
        throw error(fmt::format("{} {}: is a directory; give a file name", role, shown));
    }
    const auto dir = directory_of(path);
    const auto dir_status = fs::status(dir, ec);
    if (!fs::exists(dir_status)) {
        throw error(fmt::format("{} {}: the directory {} does not exist", role, shown, printable_path(dir)));
    }
    if (!fs::is_directory(dir_status)) {
        throw error(fmt::format("{} {}: {} is not a directory", role, shown, printable_path(dir)));
    }
    errno = 0;
    const long longest = ::pathconf(dir.c_str(), _PC_NAME_MAX);
    const auto limit = static_cast<std::size_t>(longest > 0 ? longest : NAME_MAX);
    if (name.native().size() > limit) {
        throw error(fmt::format("{} {}: the name is {} bytes, more than the {} this filesystem allows", role, shown,
                                name.native().size(), limit));
    }
}

void check_kind(const std::string& role, const fs::path& path, bool temporary) {
    const auto kind = file_kind(path);
    if (!kind || *kind == "regular file") return;
    if (*kind == "symlink" && !temporary) {
        std::error_code ec;
        if (!fs::exists(path, ec) || fs::is_regular_file(path, ec)) return;  // the rename replaces the link itself
    }
    throw error(fmt::format("{} {}: exists and is a {}; npyflow {}", role, printable_path(path), *kind,
                            temporary ? "writes its temporary files only as regular files it creates; remove it"
                                      : "replaces only regular files"));
}

}  // namespace

void job_paths::reads(std::string role, const fs::path& path, bool directory) {
    reads_.push_back({std::move(role), path, false, directory});
}

void job_paths::writes(std::string role, const fs::path& path, bool temporary) {
    writes_.push_back({std::move(role), path, temporary, false});
}

void job_paths::check() const {
    for (const auto& r : reads_) {
        if (r.path == "-") {
            throw error(fmt::format("{}: '-' (standard input) is not supported; name a file (a file named '-' can be "
                                    "given as ./-)",
                                    r.role));
        }
        std::error_code ec;
        if (!r.directory && fs::is_directory(r.path, ec)) {
            throw error(fmt::format("{} {}: is a directory; give a file", r.role, printable_path(r.path)));
        }
    }
    for (std::size_t i = 0; i < writes_.size(); ++i) {
        const auto& w = writes_[i];
        check_name(w.role, w.path, w.temporary);
        check_kind(w.role, w.path, w.temporary);
        const auto written = identify_file(w.path);
        for (const auto& r : reads_) {
            std::error_code ec;
            const bool same = (written && written == identify_file(r.path)) || resolved(w.path) == resolved(r.path);
            if (same) {
                throw error(fmt::format("{} {} is the same file as {} {}; npyflow never writes over a file the job "
                                        "reads",
                                        w.role, printable_path(w.path), r.role, printable_path(r.path)));
            }
            if (fs::is_directory(r.path, ec) && inside(w.path, r.path)) {
                throw error(fmt::format("{} {} is inside {} {}, which the job reads; write it elsewhere", w.role,
                                        printable_path(w.path), r.role, printable_path(r.path)));
            }
        }
        for (std::size_t k = 0; k < i; ++k) {
            const auto& other = writes_[k];
            const auto other_id = identify_file(other.path);
            if ((written && written == other_id) || resolved(w.path) == resolved(other.path)) {
                throw error(fmt::format("{} {} is the same file as {} {}; give them different names", w.role,
                                        printable_path(w.path), other.role, printable_path(other.path)));
            }
        }
    }
}

}  // namespace npyflow
