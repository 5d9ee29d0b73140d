#include "archive-extractor.h"

#include "errors.h"
#include "unique-fd.h"
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
#include <csignal>
#include <pthread.h>
#include <thread>
#include <set>
#include <sys/stat.h>
#include <unistd.h>

namespace bred {
namespace {

using ArchiveReader = std::unique_ptr<archive, decltype(&archive_read_free)>;
using ArchiveWriter = std::unique_ptr<archive, decltype(&archive_write_free)>;

constexpr int diskFlags = ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                          ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SECURE_NODOTDOT |
                          ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS;

// Refuses entries that would be written through a symlink, in a tree that was
// empty when extraction began: then every symlink in it is one this archive
// made, so remembering them answers what libarchive's
// ARCHIVE_EXTRACT_SECURE_SYMLINKS answers with an lstat of every parent of
// every entry (most of the unpacking time on a fast disk).
class SymlinkGuard {
public:
    // Throws BadArchive when `path` (or, for a hard link, its target) passes
    // through a symlink the archive made, or is a directory over one.
    void check(const std::string& path, const char* hardlinkTarget, bool isDirectory) const
    {
        if (symlinks_.empty())
            return;
        checkParents(path, path);
        if (hardlinkTarget)
            checkParents(hardlinkTarget, path);
        if (isDirectory && symlinks_.count(path))
            refuse(path, path);
    }
    bool isSymlink(const std::string& path) const { return symlinks_.count(path) > 0; }
    // Records what the entry at `path` now is.
    void record(const std::string& path, bool isSymlink)
    {
        if (isSymlink)
            symlinks_.insert(path);
        else
            symlinks_.erase(path); // a file replaces a symlink by unlinking it, never through it
    }

private:
    void checkParents(const std::string& path, const std::string& entry) const
    {
        for (auto slash = path.find('/'); slash != std::string::npos; slash = path.find('/', slash + 1))
            if (symlinks_.count(path.substr(0, slash)))
                refuse(entry, path.substr(0, slash));
    }
    [[noreturn]] static void refuse(const std::string& entry, const std::string& symlink)
    {
        throw Error(ErrorCode::BadArchive,
                    fmt::format("Cannot unpack '{}': it would be written through the symlink '{}' the archive made, "
                                "which could lead out of the tree; refusing the archive.",
                                entry, symlink));
    }

    std::set<std::string> symlinks_;
};

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
    struct stat st { };
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

// Whether the entry just unpacked at `path` is a device node; a hard link may be one too.
bool isDeviceNode(int treeFd, const std::string& path, archive_entry* entry)
{
    if (!archive_entry_hardlink(entry))
        return archive_entry_filetype(entry) == AE_IFCHR || archive_entry_filetype(entry) == AE_IFBLK;
    auto [parent, name] = splitParent(path);
    UniqueFd parentFd = openInRoot(treeFd, parent, O_PATH | O_DIRECTORY);
    struct stat st { };
    return parentFd && fstatat(parentFd.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 &&
           (S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode));
}

void throwArchiveError(archive* reader, const std::string& context)
{
    const char* message = archive_error_string(reader);
    throw Error(ErrorCode::BadArchive, fmt::format("The archive is damaged or not a supported format{}: {}", context,
                                                   message ? message : "unknown error"));
}

// Unpacks an uncompressed tar stream into `target`.
std::uint64_t extractTar(int fd, const std::filesystem::path& target, const ExtractOptions& options);

// Decompresses on a thread of its own into a pipe, so that decompressing and
// unpacking run at once, as with tar and its compressor process.
class Decompressor {
public:
    explicit Decompressor(int compressedFd)
    {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            throw Error(ErrorCode::Failed, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
        readEnd_ = UniqueFd(fds[0]);
        auto writeEnd = std::make_shared<UniqueFd>(fds[1]);
        fcntl(writeEnd->get(), F_SETPIPE_SZ, 1 << 20);
        thread_ = std::thread([this, compressedFd, writeEnd] { run(compressedFd, writeEnd->get()); });
    }
    ~Decompressor() { finish(); }
    Decompressor(const Decompressor&) = delete;
    Decompressor& operator=(const Decompressor&) = delete;

    int fd() const { return readEnd_.get(); }
    // Stops reading (a decompressor still writing gets EPIPE) and waits for it;
    // returns what went wrong in it, if anything.
    std::string finish()
    {
        readEnd_.reset();
        if (thread_.joinable())
            thread_.join();
        return error_;
    }

private:
    void run(int compressedFd, int out)
    {
        // Writing to a closed pipe is how this thread learns the unpacker is done.
        sigset_t pipeSignal;
        sigemptyset(&pipeSignal);
        sigaddset(&pipeSignal, SIGPIPE);
        pthread_sigmask(SIG_BLOCK, &pipeSignal, nullptr);
        ArchiveReader reader(archive_read_new(), archive_read_free);
        archive_read_support_filter_all(reader.get());
        archive_read_support_format_raw(reader.get());
        archive_entry* entry = nullptr;
        if (archive_read_open_fd(reader.get(), compressedFd, 1 << 20) != ARCHIVE_OK ||
            archive_read_next_header(reader.get(), &entry) != ARCHIVE_OK) {
            const char* message = archive_error_string(reader.get());
            error_ = message ? message : "unreadable data";
            return;
        }
        for (;;) {
            const void* block = nullptr;
            std::size_t size = 0;
            la_int64_t offset = 0;
            int status = archive_read_data_block(reader.get(), &block, &size, &offset);
            if (status == ARCHIVE_EOF)
                return;
            if (status < ARCHIVE_WARN) {
                const char* message = archive_error_string(reader.get());
                error_ = message ? message : "damaged compressed data";
                return;
            }
            auto data = static_cast<const char*>(block);
            while (size > 0) {
                ssize_t n = write(out, data, size);
                if (n < 0 && errno == EINTR)
                    continue;
                if (n <= 0)
                    return; // the unpacker stopped reading
                data += n;
                size -= std::size_t(n);
            }
        }
    }

    UniqueFd readEnd_;
    std::thread thread_;
    std::string error_;
};

} // namespace

std::uint64_t extractArchive(int fd, const std::filesystem::path& target, const ExtractOptions& options)
{
    Decompressor decompressor(fd);
    try {
        return extractTar(decompressor.fd(), target, options);
    } catch (const Error& error) {
        // A damaged compressed stream shows as a tar archive ending early: name the real cause.
        if (std::string problem = decompressor.finish(); !problem.empty() && error.code() == ErrorCode::BadArchive)
            throw Error(ErrorCode::BadArchive,
                        fmt::format("The archive is damaged or not a supported format: {}", problem));
        throw;
    }
}

namespace {

std::uint64_t extractTar(int fd, const std::filesystem::path& target, const ExtractOptions& options)
{
    // libarchive writes relative to the working directory, which threads share:
    // give this thread its own.
    if (unshare(CLONE_FS) < 0 || chdir(target.c_str()) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot enter {}: {}", target.string(), std::strerror(errno)));
    UniqueFd treeFd(open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    // Declared before the writer so that it outlives it: freeing the writer
    // (also when an exception unwinds) finishes pending entries and looks names up.
    NameLookup lookup{treeFd.get()};

    ArchiveReader reader(archive_read_new(), archive_read_free);
    ArchiveWriter writer(archive_write_disk_new(), archive_write_free);
    archive_read_support_filter_none(reader.get());
    archive_read_support_format_tar(reader.get());
    archive_read_support_format_gnutar(reader.get());
    // No cpio: libarchive 3.6 reads a cpio symlink's target into memory whatever
    // size its header claims (up to 4 GiB), and rootfs archives are tar.
    // Layers go onto a tree earlier layers filled, with symlinks we did not see
    // made: there libarchive checks every path on disk.
    const bool freshTree = !options.applyWhiteouts;
    archive_write_disk_set_options(writer.get(), freshTree ? diskFlags : diskFlags | ARCHIVE_EXTRACT_SECURE_SYMLINKS);
    SymlinkGuard symlinks;
    archive_write_disk_set_group_lookup(writer.get(), &lookup, lookupGroup, nullptr);
    archive_write_disk_set_user_lookup(writer.get(), &lookup, lookupUser, nullptr);
    if (archive_read_open_fd(reader.get(), fd, 1 << 20) != ARCHIVE_OK)
        throwArchiveError(reader.get(), "");

    std::uint64_t written = 0;
    std::set<std::string> layerPaths;
    for (;;) {
        archive_entry* entry = nullptr;
        int status = archive_read_next_header(reader.get(), &entry);
        if (status == ARCHIVE_EOF)
            break;
        if (status < ARCHIVE_WARN)
            throwArchiveError(reader.get(), written ? " (it ends or breaks in the middle)" : "");
        std::string path = normalizedEntryPath(entryName(entry), "path");
        if (path.empty())
            continue; // the top directory itself: the target exists already
        std::string hardlinkTarget;
        if (const char* link = archive_entry_hardlink(entry)) {
            hardlinkTarget = normalizedEntryPath(link, "hard link target");
            archive_entry_set_hardlink(entry, hardlinkTarget.c_str());
        }
        archive_entry_set_pathname(entry, path.c_str());
        if (freshTree) {
            symlinks.check(path, hardlinkTarget.empty() ? nullptr : hardlinkTarget.c_str(),
                           archive_entry_filetype(entry) == AE_IFDIR);
            // A hard link to a symlink is a symlink too.
            symlinks.record(path, hardlinkTarget.empty() ? archive_entry_filetype(entry) == AE_IFLNK
                                                         : symlinks.isSymlink(hardlinkTarget));
        }

        if (options.applyWhiteouts) {
            auto [parent, name] = splitParent(path);
            if (name == ".wh..wh..opq") {
                makeOpaque(treeFd.get(), parent, layerPaths);
                continue;
            }
            if (name.starts_with(".wh.")) {
                std::string deleted = name.substr(4);
                // ".wh.." or ".wh..." would delete the directory itself or its parent.
                if (deleted.empty() || deleted == "." || deleted == "..")
                    throw Error(ErrorCode::BadArchive,
                                fmt::format("The image's whiteout '{}' names '{}', not an entry of the layer below; "
                                            "refusing the image.",
                                            path, deleted));
                removeInTree(treeFd.get(), parent == "." ? deleted : parent + "/" + deleted);
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
        }
        if (status < ARCHIVE_WARN)
            throwArchiveError(reader.get(), fmt::format(" at '{}'", path));
        if (archive_write_finish_entry(writer.get()) < ARCHIVE_WARN) {
            const char* message = archive_error_string(writer.get());
            throw Error(ErrorCode::Failed, fmt::format("Cannot finish '{}': {}", path, message ? message : "error"));
        }
        if (options.deviceNode && isDeviceNode(treeFd.get(), path, entry))
            options.deviceNode(target / path);
    }
    // Directory times and modes are set last, when every entry is in.
    if (archive_write_close(writer.get()) < ARCHIVE_WARN) {
        const char* message = archive_error_string(writer.get());
        throw Error(ErrorCode::Failed, fmt::format("Cannot finish unpacking: {}", message ? message : "error"));
    }
    return written;
}

} // namespace

} // namespace bred
