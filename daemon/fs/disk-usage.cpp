#include "disk-usage.h"

#include "directory-entries.h"
#include "errors.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/openat2.h>
#include <set>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace bred {
namespace {

// Opens a subdirectory; fails (EXDEV) on a mount point and on anything that is not a directory.
UniqueFd openSubdirectory(int parentFd, const std::string& name)
{
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return UniqueFd(static_cast<int>(syscall(SYS_openat2, parentFd, name.c_str(), &how, sizeof how)));
}

// A directory being walked: its descriptor, its entries, and the next entry to look at.
struct OpenDirectory {
    UniqueFd fd;
    std::vector<DirectoryEntry> entries;
    std::size_t next = 0;
};

} // namespace

std::optional<std::uint64_t> treeDiskUsage(const std::filesystem::path& directory,
                                           const std::function<bool()>& stopRequested)
{
    UniqueFd top(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    struct stat st { };
    if (!top || fstat(top.get(), &st) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot open {}: {}", directory.string(), std::strerror(errno)));
    const dev_t device = st.st_dev;
    std::uint64_t bytes = std::uint64_t(st.st_blocks) * 512;
    std::set<std::pair<dev_t, ino_t>> linkedInodes;

    // An explicit stack rather than recursion: the depth is the tree's to choose.
    std::vector<OpenDirectory> stack;
    auto enter = [&stack](UniqueFd fd) {
        std::vector<DirectoryEntry> entries;
        try {
            entries = listDirectory(fd.get());
        } catch (const Error&) {
            return; // unreadable or gone meanwhile: its own blocks are counted, its contents not
        }
        stack.push_back(OpenDirectory{std::move(fd), std::move(entries)});
    };
    enter(std::move(top));
    while (!stack.empty()) {
        OpenDirectory& current = stack.back();
        if (current.next == current.entries.size()) {
            stack.pop_back();
            continue;
        }
        const DirectoryEntry& entry = current.entries[current.next++];
        if (fstatat(current.fd.get(), entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 || st.st_dev != device)
            continue;
        if (st.st_nlink > 1 && !S_ISDIR(st.st_mode) && !linkedInodes.insert({st.st_dev, st.st_ino}).second)
            continue;
        bytes += std::uint64_t(st.st_blocks) * 512;
        if (!S_ISDIR(st.st_mode) || stack.size() > maxDiskUsageDepth)
            continue;
        if (stopRequested())
            return std::nullopt;
        if (UniqueFd child = openSubdirectory(current.fd.get(), entry.name))
            enter(std::move(child));
    }
    return bytes;
}

} // namespace bred
