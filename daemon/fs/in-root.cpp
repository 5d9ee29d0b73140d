#include "in-root.h"

#include "atomic-file.h"
#include "errors.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <vector>

namespace bred {
namespace {

// As the kernel's limit on symlinks followed in one lookup.
constexpr int maxSymlinkHops = 40;

// "/etc//x/./y" → {"etc", "x", "y"}; ".." stays, for the kernel to resolve inside the tree.
std::vector<std::string> pathComponents(const std::string& path)
{
    std::vector<std::string> parts;
    std::size_t start = 0;
    while (start <= path.size()) {
        auto slash = path.find('/', start);
        std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
        if (!part.empty() && part != ".")
            parts.push_back(std::move(part));
        if (slash == std::string::npos)
            break;
        start = slash + 1;
    }
    return parts;
}

std::string joinComponents(const std::vector<std::string>& parts)
{
    std::string path;
    for (const auto& part : parts)
        path += (path.empty() ? "" : "/") + part;
    return path;
}

std::optional<std::string> readLink(int dirFd, const std::string& name)
{
    char target[4096];
    ssize_t length = readlinkat(dirFd, name.c_str(), target, sizeof target);
    if (length <= 0 || std::size_t(length) == sizeof target)
        return std::nullopt;
    return std::string(target, std::size_t(length));
}

void makeDirectoriesInRoot(int rootFd, const std::string& path, int depth)
{
    if (depth > maxSymlinkHops)
        throw Error(ErrorCode::Failed, fmt::format("too many symlinks on the way to /{} in the machine's tree", path));
    std::string prefix;
    for (const auto& component : pathComponents(path)) {
        std::string next = prefix.empty() ? component : prefix + "/" + component;
        if (!openInRoot(rootFd, next, O_PATH | O_DIRECTORY)) {
            UniqueFd parent = openInRoot(rootFd, prefix.empty() ? "." : prefix, O_PATH | O_DIRECTORY);
            if (!parent)
                throw Error(ErrorCode::Failed,
                            fmt::format("cannot open /{} in the machine's tree: {}", prefix, std::strerror(errno)));
            if (auto link = readLink(parent.get(), component)) {
                // A dangling symlink: make what it points to, resolved as the container would.
                makeDirectoriesInRoot(rootFd, link->front() == '/' ? *link : prefix + "/" + *link, depth + 1);
            } else if (mkdirat(parent.get(), component.c_str(), 0755) < 0 && errno != EEXIST) {
                throw Error(ErrorCode::Failed,
                            fmt::format("cannot create /{} in the machine's tree: {}", next, std::strerror(errno)));
            }
        }
        prefix = next;
    }
}

} // namespace

UniqueFd openInRoot(int rootFd, const std::string& path, int flags, unsigned mode)
{
    open_how how{};
    how.flags = static_cast<unsigned>(flags | O_CLOEXEC);
    how.mode = mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    // The kernel asks for a retry when a rename raced with the lookup; a
    // container renaming without pause must not keep the daemon here.
    long fd = -1;
    for (int attempt = 0; attempt < 64; ++attempt) {
        fd = syscall(SYS_openat2, rootFd, path.c_str(), &how, sizeof how);
        if (fd >= 0 || errno != EAGAIN)
            break;
    }
    return UniqueFd(static_cast<int>(fd));
}

UniqueFd reopenPathFd(int pathFd, int flags)
{
    return UniqueFd(open(("/proc/self/fd/" + std::to_string(pathFd)).c_str(), flags | O_CLOEXEC | O_NOCTTY));
}

UniqueFd openRegularFileInRoot(int rootFd, const std::string& path)
{
    // O_PATH first: opening a device or FIFO, even only for reading, can block
    // or act on the device; an O_PATH descriptor opens nothing.
    UniqueFd pathFd = openInRoot(rootFd, path, O_PATH);
    if (!pathFd)
        return {};
    struct stat st { };
    if (fstat(pathFd.get(), &st) < 0)
        return {};
    if (!S_ISREG(st.st_mode)) {
        errno = EINVAL;
        return {};
    }
    return reopenPathFd(pathFd.get(), O_RDONLY | O_NONBLOCK);
}

std::optional<std::string> readFileHeadInRoot(int rootFd, const std::string& path, std::size_t bytes)
{
    UniqueFd fd = openRegularFileInRoot(rootFd, path);
    if (!fd)
        return std::nullopt;
    std::string head(bytes, '\0');
    ssize_t n = pread(fd.get(), head.data(), bytes, 0);
    if (n < 0)
        return std::nullopt;
    head.resize(std::size_t(n));
    return head;
}

std::optional<std::string> readFileInRoot(int rootFd, const std::string& path, std::size_t maxBytes)
{
    UniqueFd fd = openRegularFileInRoot(rootFd, path);
    struct stat st { };
    if (!fd || fstat(fd.get(), &st) < 0 || std::size_t(st.st_size) > maxBytes)
        return std::nullopt;
    std::string content;
    char buffer[8192];
    for (;;) {
        ssize_t n = read(fd.get(), buffer, sizeof buffer);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return std::nullopt;
        if (n == 0)
            return content;
        content.append(buffer, std::size_t(n));
        if (content.size() > maxBytes)
            return std::nullopt;
    }
}

void replaceFileInRoot(int rootFd, const std::string& path, const std::string& content, FinalSymlink finalSymlink)
{
    const std::string requested = "/" + joinComponents(pathComponents(path));
    std::string current = path;
    for (int hops = 0;; ++hops) {
        auto parts = pathComponents(current);
        if (parts.empty() || parts.back() == "..")
            throw Error(ErrorCode::InvalidArgs, fmt::format("'{}' does not name a file.", path));
        const std::string shown = "/" + joinComponents(parts);
        const std::string via = shown == requested ? "" : fmt::format(" ({} leads there)", requested);
        if (hops > maxSymlinkHops)
            throw Error(ErrorCode::Failed,
                        fmt::format("cannot write {} in the machine's tree: too many levels of symlinks", requested));
        const std::string name = parts.back();
        parts.pop_back();
        const std::string parentPath = joinComponents(parts);
        UniqueFd parent = openInRoot(rootFd, parentPath.empty() ? "." : parentPath, O_RDONLY | O_DIRECTORY);
        if (!parent)
            throw Error(ErrorCode::Failed, fmt::format("cannot write {} in the machine's tree{}: /{}: {}", shown, via,
                                                       parentPath, std::strerror(errno)));
        mode_t mode = 0644;
        std::optional<FileOwner> owner;
        struct stat st { };
        if (fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0) {
            if (S_ISLNK(st.st_mode) && finalSymlink == FinalSymlink::Follow) {
                auto target = readLink(parent.get(), name);
                if (!target)
                    throw Error(ErrorCode::Failed,
                                fmt::format("cannot read the symlink {} in the machine's tree", shown));
                current = target->front() == '/' ? *target : parentPath + "/" + *target;
                continue;
            }
            if (S_ISREG(st.st_mode)) {
                mode = st.st_mode & 07777;
                owner = FileOwner{st.st_uid, st.st_gid};
            } else if (!S_ISLNK(st.st_mode)) {
                throw Error(ErrorCode::NotSupported,
                            fmt::format("{} in the machine's tree{} is {}, not a regular file; the daemon does not "
                                        "write over it. Remove it and try again.",
                                        shown, via, fileTypeName(st.st_mode)));
            }
        } else if (errno != ENOENT) {
            throw Error(ErrorCode::Failed,
                        fmt::format("cannot write {} in the machine's tree{}: {}", shown, via, std::strerror(errno)));
        }
        replaceFileAt(parent.get(), name, content, mode, owner, shown + " in the machine's tree" + via);
        return;
    }
}

void makeDirectoriesInRoot(int rootFd, const std::string& path) { makeDirectoriesInRoot(rootFd, path, 0); }

void makeSymlinkInRoot(int rootFd, const std::string& path, const std::string& target)
{
    auto parts = pathComponents(path);
    if (parts.empty() || parts.back() == "..")
        throw Error(ErrorCode::InvalidArgs, fmt::format("'{}' does not name a file.", path));
    const std::string name = parts.back();
    parts.pop_back();
    UniqueFd parent = openInRoot(rootFd, parts.empty() ? "." : joinComponents(parts), O_PATH | O_DIRECTORY);
    if (!parent || (symlinkat(target.c_str(), parent.get(), name.c_str()) < 0 && errno != EEXIST))
        throw Error(ErrorCode::Failed, fmt::format("cannot create the symlink /{} in the machine's tree: {}",
                                                   joinComponents(pathComponents(path)), std::strerror(errno)));
}

std::string fileTypeName(mode_t mode)
{
    switch (mode & S_IFMT) {
    case S_IFREG:
        return "a regular file";
    case S_IFDIR:
        return "a directory";
    case S_IFLNK:
        return "a symlink";
    case S_IFBLK:
        return "a block device";
    case S_IFCHR:
        return "a character device";
    case S_IFIFO:
        return "a FIFO";
    case S_IFSOCK:
        return "a socket";
    default:
        return "a file of unknown type";
    }
}

} // namespace bred
