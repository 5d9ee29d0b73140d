#include "in-root.h"

#include "atomic-file.h"
#include "errors.h"

#include <cstring>
#include <fmt/format.h>
#include <filesystem>
#include <cerrno>
#include <fcntl.h>
#include <linux/openat2.h>
#include <string>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace bred {

UniqueFd openInRoot(int rootFd, const std::string& path, int flags, unsigned mode)
{
    open_how how{};
    how.flags = static_cast<unsigned>(flags | O_CLOEXEC);
    how.mode = mode;
    how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
    for (;;) {
        long fd = syscall(SYS_openat2, rootFd, path.c_str(), &how, sizeof how);
        // The kernel asks for a retry when a rename raced with the lookup.
        if (fd < 0 && errno == EAGAIN)
            continue;
        return UniqueFd(static_cast<int>(fd));
    }
}

namespace {

// Opens a regular file inside the tree for reading. O_PATH first: opening a
// device or FIFO for reading can have side effects.
UniqueFd openRegularInRoot(int rootFd, const std::string& path, off_t* size)
{
    UniqueFd pathFd = openInRoot(rootFd, path, O_PATH);
    if (!pathFd)
        return {};
    struct stat st {};
    if (fstat(pathFd.get(), &st) < 0 || !S_ISREG(st.st_mode))
        return {};
    *size = st.st_size;
    return UniqueFd(open(("/proc/self/fd/" + std::to_string(pathFd.get())).c_str(),
                         O_RDONLY | O_CLOEXEC | O_NOCTTY));
}

} // namespace

std::optional<std::string> readFileHeadInRoot(int rootFd, const std::string& path, std::size_t bytes)
{
    off_t size = 0;
    UniqueFd fd = openRegularInRoot(rootFd, path, &size);
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
    off_t size = 0;
    UniqueFd fd = openRegularInRoot(rootFd, path, &size);
    if (!fd || std::size_t(size) > maxBytes)
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

void replaceFileInRoot(int rootFd, const std::string& path, const std::string& content)
{
    std::filesystem::path relative(path);
    const std::string name = relative.filename().string();
    auto fail = [&](const char* what) {
        return Error(ErrorCode::Failed, fmt::format("cannot {} /{} in the container: {}", what,
                                                    relative.relative_path().string(), std::strerror(errno)));
    };
    if (name.empty() || name == "." || name == "..")
        throw Error(ErrorCode::InvalidArgs, fmt::format("'{}' does not name a file.", path));
    std::string parentPath = relative.parent_path().string();
    UniqueFd parent = openInRoot(rootFd, parentPath.empty() ? "/" : parentPath, O_RDONLY | O_DIRECTORY);
    if (!parent)
        throw fail("open the directory of");
    mode_t mode = 0644;
    struct stat st {};
    if (fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
        mode = st.st_mode & 07777;
    std::string temporary = ".#bred-" + name + "-" + randomSuffix();
    UniqueFd file(openat(parent.get(), temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode));
    if (!file)
        throw fail("write");
    if ((!content.empty() && write(file.get(), content.data(), content.size()) != ssize_t(content.size())) ||
        fchmod(file.get(), mode) < 0 || fsync(file.get()) < 0) {
        Error error = fail("write");
        unlinkat(parent.get(), temporary.c_str(), 0);
        throw error;
    }
    if (renameat(parent.get(), temporary.c_str(), parent.get(), name.c_str()) < 0) {
        Error error = fail("replace");
        unlinkat(parent.get(), temporary.c_str(), 0);
        throw error;
    }
}

} // namespace bred
