#include "archive-extractor.h"

#include "errors.h"
#include "in-root.h"
#include "tree-removal.h"
#include "directory-entries.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <cstdlib>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <fmt/format.h>
#include <memory>
#include <sched.h>
#include <set>
#include <unistd.h>

namespace bred {
namespace {

using ArchiveReader = std::unique_ptr<archive, decltype(&archive_read_free)>;
using ArchiveWriter = std::unique_ptr<archive, decltype(&archive_write_free)>;

constexpr int diskFlags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME |
                          ARCHIVE_EXTRACT_XATTR | ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SPARSE |
                          ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                          ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

std::string entryName(archive_entry* entry)
{
    const char* name = archive_entry_pathname(entry);
    if (!name)
        name = archive_entry_pathname_utf8(entry);
    return name ? name : "";
}

// "./etc//x/" → "etc/x"; rejects absolute paths and ".." components.
std::string normalizedEntryPath(const std::string& raw, const char* what)
{
    if (raw.empty())
        throw Error(ErrorCode::BadArchive, fmt::format("The archive has an entry with an empty {}.", what));
    if (raw.front() == '/')
        throw Error(ErrorCode::BadArchive,
                    fmt::format("The archive has an absolute {} '{}'; refusing to write outside the tree.", what, raw));
    std::string normalized;
    std::size_t start = 0;
    while (start <= raw.size()) {
        auto slash = raw.find('/', start);
        std::string part = raw.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (part == "..")
            throw Error(ErrorCode::BadArchive,
                        fmt::format("The archive's {} '{}' climbs out with '..'; refusing it.", what, raw));
        if (!part.empty() && part != ".")
            normalized += (normalized.empty() ? "" : "/") + part;
        if (slash == std::string::npos)
            break;
        start = slash + 1;
    }
    return normalized;
}

std::pair<std::string, std::string> splitParent(const std::string& path)
{
    auto slash = path.rfind('/');
    if (slash == std::string::npos)
        return {".", path};
    return {path.substr(0, slash), path.substr(slash + 1)};
}

// Deletes `path` (relative to the tree) of a lower layer, resolving it inside the tree.
void removeInTree(int treeFd, const std::string& path)
{
    auto [parent, name] = splitParent(path);
    UniqueFd parentFd = openInRoot(treeFd, parent, O_RDONLY | O_DIRECTORY);
    if (!parentFd)
        return; // nothing there to delete
    struct stat st {};
    if (fstatat(parentFd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return;
    if (S_ISDIR(st.st_mode))
        removeTree(parentFd.get(), name, [] {});
    else
        unlinkat(parentFd.get(), name.c_str(), 0);
}

// Empties directory `path` of everything not written by the current layer.
void makeOpaque(int treeFd, const std::string& path, const std::set<std::string>& fromThisLayer)
{
    UniqueFd dirFd = openInRoot(treeFd, path, O_RDONLY | O_DIRECTORY);
    if (!dirFd)
        return;
    for (const auto& entry : listDirectory(dirFd.get())) {
        std::string child = path == "." ? entry.name : path + "/" + entry.name;
        if (!fromThisLayer.count(child))
            removeInTree(treeFd, child);
    }
}

// Owners are numeric. Only ACL entries that carry a name without an id (GNU
// tar writes them so) need a lookup: in the tree's own user database first,
// as the tree will use it, then the host's, as GNU tar does.
struct NameLookup {
    int treeFd;
};

la_int64_t lookupId(int treeFd, const char* database, const char* name, la_int64_t id)
{
    if (id >= 0 || !name || !*name)
        return id;
    if (auto text = readFileInRoot(treeFd, database, 16 << 20)) {
        std::string prefix = std::string(name) + ":";
        std::size_t start = 0;
        while (start < text->size()) {
            auto end = text->find('\n', start);
            std::string line = text->substr(start, end == std::string::npos ? std::string::npos : end - start);
            start = end == std::string::npos ? text->size() : end + 1;
            if (!line.starts_with(prefix))
                continue;
            // name:password:id:...
            auto idStart = line.find(':', prefix.size());
            if (idStart != std::string::npos)
                return std::strtoll(line.c_str() + idStart + 1, nullptr, 10);
        }
    }
    if (std::string_view(database) == "etc/group") {
        if (const group* entry = getgrnam(name))
            return entry->gr_gid;
    } else if (const passwd* entry = getpwnam(name)) {
        return entry->pw_uid;
    }
    return id;
}

la_int64_t lookupGroup(void* data, const char* name, la_int64_t id)
{
    return lookupId(static_cast<NameLookup*>(data)->treeFd, "etc/group", name, id);
}

la_int64_t lookupUser(void* data, const char* name, la_int64_t id)
{
    return lookupId(static_cast<NameLookup*>(data)->treeFd, "etc/passwd", name, id);
}

void throwArchiveError(archive* reader, const std::string& context)
{
    const char* message = archive_error_string(reader);
    throw Error(ErrorCode::BadArchive,
                fmt::format("The archive is damaged or not a supported format{}: {}", context,
                            message ? message : "unknown error"));
}

} // namespace

std::uint64_t extractArchive(int fd, const std::filesystem::path& target, const ExtractOptions& options)
{
    // libarchive writes relative to the working directory, which threads share:
    // give this thread its own.
    if (unshare(CLONE_FS) < 0 || chdir(target.c_str()) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot enter {}: {}", target.string(), std::strerror(errno)));
    UniqueFd treeFd(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));

    ArchiveReader reader(archive_read_new(), archive_read_free);
    ArchiveWriter writer(archive_write_disk_new(), archive_write_free);
    archive_read_support_filter_all(reader.get());
    archive_read_support_format_tar(reader.get());
    archive_read_support_format_gnutar(reader.get());
    archive_read_support_format_cpio(reader.get());
    archive_write_disk_set_options(writer.get(), diskFlags);
    NameLookup lookup{treeFd.get()};
    archive_write_disk_set_group_lookup(writer.get(), &lookup, lookupGroup, nullptr);
    archive_write_disk_set_user_lookup(writer.get(), &lookup, lookupUser, nullptr);
    if (archive_read_open_fd(reader.get(), fd, 1 << 20) != ARCHIVE_OK)
        throwArchiveError(reader.get(), "");

    std::uint64_t written = 0;
    std::set<std::string> layerPaths;
    for (;;) {
        if (options.canceled && options.canceled())
            throw ExtractionStopped{};
        archive_entry* entry = nullptr;
        int status = archive_read_next_header(reader.get(), &entry);
        if (status == ARCHIVE_EOF)
            break;
        if (status < ARCHIVE_WARN)
            throwArchiveError(reader.get(), written ? " (it ends or breaks in the middle)" : "");
        std::string path = normalizedEntryPath(entryName(entry), "path");
        if (path.empty())
            continue; // the top directory itself: the target exists already
        if (const char* link = archive_entry_hardlink(entry))
            archive_entry_set_hardlink(entry, normalizedEntryPath(link, "hard link target").c_str());
        archive_entry_set_pathname(entry, path.c_str());

        if (options.applyWhiteouts) {
            auto [parent, name] = splitParent(path);
            if (name == ".wh..wh..opq") {
                makeOpaque(treeFd.get(), parent, layerPaths);
                continue;
            }
            if (name.starts_with(".wh.")) {
                removeInTree(treeFd.get(), parent == "." ? name.substr(4) : parent + "/" + name.substr(4));
                continue;
            }
            layerPaths.insert(path);
        }

        if (archive_entry_size(entry) > 0 && written + std::uint64_t(archive_entry_size(entry)) > options.maxTreeBytes)
            throw Error(ErrorCode::BadArchive,
                        fmt::format("The archive unpacks to more than the limit of {} bytes (max_tree_bytes in the "
                                    "daemon's configuration); refusing it.",
                                    options.maxTreeBytes));
        if (archive_write_header(writer.get(), entry) < ARCHIVE_WARN) {
            const char* message = archive_error_string(writer.get());
            int error = archive_errno(writer.get());
            throw Error(error == ENOSPC || error == EDQUOT ? ErrorCode::Failed : ErrorCode::BadArchive,
                        fmt::format("Cannot unpack '{}': {}", path, message ? message : std::strerror(error)));
        }
        const void* block = nullptr;
        std::size_t size = 0;
        la_int64_t offset = 0;
        while ((status = archive_read_data_block(reader.get(), &block, &size, &offset)) == ARCHIVE_OK) {
            written += size;
            if (written > options.maxTreeBytes)
                throw Error(ErrorCode::BadArchive,
                            fmt::format("The archive unpacks to more than the limit of {} bytes (max_tree_bytes in "
                                        "the daemon's configuration); refusing it.",
                                        options.maxTreeBytes));
            if (archive_write_data_block(writer.get(), block, size, offset) < ARCHIVE_WARN) {
                int error = archive_errno(writer.get());
                throw Error(error == ENOSPC || error == EDQUOT ? ErrorCode::Failed : ErrorCode::BadArchive,
                            fmt::format("Cannot write '{}': {}", path, std::strerror(error)));
            }
            if (options.canceled && options.canceled())
                throw ExtractionStopped{};
        }
        if (status < ARCHIVE_WARN)
            throwArchiveError(reader.get(), fmt::format(" at '{}'", path));
        if (archive_write_finish_entry(writer.get()) < ARCHIVE_WARN) {
            const char* message = archive_error_string(writer.get());
            throw Error(ErrorCode::Failed, fmt::format("Cannot finish '{}': {}", path, message ? message : "error"));
        }
    }
    // Directory times and modes are set last, when every entry is in.
    if (archive_write_close(writer.get()) < ARCHIVE_WARN) {
        const char* message = archive_error_string(writer.get());
        throw Error(ErrorCode::Failed, fmt::format("Cannot finish unpacking: {}", message ? message : "error"));
    }
    return written;
}

} // namespace bred
