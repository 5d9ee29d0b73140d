#include "atomic-file.h"

#include "errors.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <cstdio>
#include <random>
#include <sys/stat.h>
#include <unistd.h>

namespace bred {

std::string randomSuffix()
{
    std::random_device random;
    return fmt::format("{:08x}", random());
}

namespace {

bool writeAll(int fd, const std::string& text)
{
    const char* data = text.data();
    std::size_t left = text.size();
    while (left > 0) {
        ssize_t n = write(fd, data, left);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        data += n;
        left -= std::size_t(n);
    }
    return true;
}

// A new file in `dirFd` for replaceFileAt to fill. Unnamed (O_TMPFILE) where
// the filesystem allows it, so a daemon killed while writing leaves nothing;
// else with a random hidden name and O_EXCL. Either way a new inode: whatever
// the tree's owner put in the directory is never opened. (O_TMPFILE without
// O_EXCL, which would forbid linking it in.)
struct NewFile {
    UniqueFd fd;
    std::string name; // empty while unnamed
};

NewFile createNewFile(int dirFd)
{
    NewFile file{UniqueFd(openat(dirFd, ".", O_TMPFILE | O_WRONLY | O_CLOEXEC, 0600)), {}};
    if (file.fd || (errno != EOPNOTSUPP && errno != EISDIR && errno != EINVAL))
        return file;
    for (int attempt = 0; attempt < 16; ++attempt) {
        file.name = std::string(temporaryPrefix) + randomSuffix();
        file.fd = UniqueFd(openat(dirFd, file.name.c_str(),
                                  O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600));
        if (file.fd || errno != EEXIST)
            break;
    }
    return file;
}

// Gives an unnamed file a random hidden name in `dirFd`, so it can be renamed
// over the target: linkat() never replaces a name. Returns false with errno set.
bool nameNewFile(int dirFd, NewFile& file)
{
    const std::string procPath = "/proc/self/fd/" + std::to_string(file.fd.get());
    for (int attempt = 0; attempt < 16; ++attempt) {
        std::string name = std::string(temporaryPrefix) + randomSuffix();
        if (linkat(AT_FDCWD, procPath.c_str(), dirFd, name.c_str(), AT_SYMLINK_FOLLOW) == 0) {
            file.name = std::move(name);
            return true;
        }
        if (errno != EEXIST)
            return false;
    }
    return false;
}

} // namespace

void installFileAt(int dirFd, const std::string& name, const std::function<void(int fd)>& fill, ExistingTarget existing,
                   const std::string& displayPath)
{
    NewFile file = createNewFile(dirFd);
    if (!file.fd)
        throw Error(ErrorCode::Failed, fmt::format("cannot write {}: {}", displayPath, std::strerror(errno)));
    auto removeNamed = [&] {
        if (!file.name.empty())
            unlinkat(dirFd, file.name.c_str(), 0);
    };
    auto fail = [&](const char* what) {
        int failure = errno;
        removeNamed();
        throw Error(ErrorCode::Failed, fmt::format("{} {}: {}", what, displayPath, std::strerror(failure)));
    };
    try {
        fill(file.fd.get());
    } catch (...) {
        removeNamed();
        throw;
    }
    if (fsync(file.fd.get()) < 0)
        fail("cannot write");
    if (file.name.empty() && !nameNewFile(dirFd, file))
        fail("cannot write");
    if (existing == ExistingTarget::Replace) {
        if (renameat(dirFd, file.name.c_str(), dirFd, name.c_str()) < 0)
            fail("cannot replace");
        return;
    }
    if (renameat2(dirFd, file.name.c_str(), dirFd, name.c_str(), RENAME_NOREPLACE) < 0) {
        if (errno != EEXIST)
            fail("cannot create");
        removeNamed();
        throw Error(ErrorCode::AlreadyExists, fmt::format("{} exists already.", displayPath));
    }
}

void replaceFileAt(int dirFd, const std::string& name, const std::string& text, mode_t mode,
                   std::optional<FileOwner> owner, const std::string& displayPath)
{
    installFileAt(
        dirFd, name,
        [&](int fd) {
            if (!writeAll(fd, text) || (owner && fchown(fd, owner->uid, owner->gid) < 0) || fchmod(fd, mode) < 0)
                throw Error(ErrorCode::Failed, fmt::format("cannot write {}: {}", displayPath, std::strerror(errno)));
        },
        ExistingTarget::Replace, displayPath);
}

void writeFileAtomically(const std::filesystem::path& path, const std::string& text, mode_t mode)
{
    std::error_code error;
    std::filesystem::create_directories(path.parent_path(), error);
    UniqueFd dir(open(path.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!dir)
        throw Error(ErrorCode::Failed, fmt::format("cannot write {}: {}", path.string(), std::strerror(errno)));
    replaceFileAt(dir.get(), path.filename().string(), text, mode, std::nullopt, path.string());
}

} // namespace bred
