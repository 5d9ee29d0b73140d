#include "tree-removal.h"

#include "directory-entries.h"
#include "errors.h"
#include "in-root.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bred {
namespace {

// Opens a subdirectory for traversal; EXDEV tells it is a mount point.
UniqueFd openSubdirectory(int parentFd, const char* name)
{
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return UniqueFd(static_cast<int>(syscall(SYS_openat2, parentFd, name, &how, sizeof how)));
}

void clearImmutableAttributes(int parentFd, const std::string& name)
{
    // Only directories and regular files are opened: never a tree's device node or FIFO.
    UniqueFd pathFd(openat(parentFd, name.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    struct stat st { };
    if (!pathFd || fstat(pathFd.get(), &st) < 0 || !(S_ISDIR(st.st_mode) || S_ISREG(st.st_mode)))
        return;
    UniqueFd fd = reopenPathFd(pathFd.get(), O_RDONLY | O_NONBLOCK);
    int flags = 0;
    if (fd && ioctl(fd.get(), FS_IOC_GETFLAGS, &flags) == 0 && (flags & (FS_IMMUTABLE_FL | FS_APPEND_FL))) {
        flags &= ~(FS_IMMUTABLE_FL | FS_APPEND_FL);
        ioctl(fd.get(), FS_IOC_SETFLAGS, &flags);
    }
}

void unlinkEntry(int parentFd, const std::string& name, int unlinkFlags, const std::string& displayPath)
{
    if (unlinkat(parentFd, name.c_str(), unlinkFlags) == 0)
        return;
    if (errno == EPERM) {
        clearImmutableAttributes(parentFd, name);
        if (unlinkat(parentFd, name.c_str(), unlinkFlags) == 0)
            return;
    }
    throw Error(ErrorCode::Failed, fmt::format("cannot remove {}: {}", displayPath, std::strerror(errno)));
}

void removeContents(int dirFd, const std::string& displayPath, const std::function<void()>& onEntryRemoved)
{
    for (const auto& [name, isDirectory] : listDirectory(dirFd)) {
        std::string childPath = displayPath + "/" + name;
        if (isDirectory) {
            // An immutable directory refuses the removal of its entries.
            clearImmutableAttributes(dirFd, name);
            UniqueFd child = openSubdirectory(dirFd, name.c_str());
            if (!child && errno == EXDEV)
                throw Error(ErrorCode::Busy, fmt::format("{} is a mount point; unmount it first", childPath));
            if (!child)
                throw Error(ErrorCode::Failed, fmt::format("cannot open {}: {}", childPath, std::strerror(errno)));
            removeContents(child.get(), childPath, onEntryRemoved);
        }
        unlinkEntry(dirFd, name, isDirectory ? AT_REMOVEDIR : 0, childPath);
        onEntryRemoved();
    }
}

std::uint64_t countEntries(int dirFd)
{
    std::uint64_t count = 0;
    for (const auto& [name, isDirectory] : listDirectory(dirFd)) {
        ++count;
        if (isDirectory)
            if (UniqueFd child = openSubdirectory(dirFd, name.c_str()))
                count += countEntries(child.get());
    }
    return count;
}

} // namespace

std::uint64_t countTreeEntries(int dirFd) { return countEntries(dirFd); }

void removeTree(int parentFd, const std::string& name, const std::function<void()>& onEntryRemoved)
{
    UniqueFd dir = openSubdirectory(parentFd, name.c_str());
    if (!dir)
        throw Error(ErrorCode::Failed, fmt::format("cannot open {}: {}", name, std::strerror(errno)));
    clearImmutableAttributes(parentFd, name);
    removeContents(dir.get(), name, onEntryRemoved);
    unlinkEntry(parentFd, name, AT_REMOVEDIR, name);
}

} // namespace bred
