#include "atomic-file.h"

#include "errors.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
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

} // namespace

void replaceFileAt(int dirFd, const std::string& name, const std::string& text, mode_t mode,
                   std::optional<FileOwner> owner, const std::string& displayPath)
{
    std::string temporary;
    UniqueFd file;
    // O_EXCL: a new file, whatever the tree's owner put in the directory.
    for (int attempt = 0; attempt < 16 && !file; ++attempt) {
        temporary = ".#bred-" + randomSuffix();
        file = UniqueFd(openat(dirFd, temporary.c_str(),
                               O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0600));
        if (!file && errno != EEXIST)
            break;
    }
    if (!file)
        throw Error(ErrorCode::Failed, fmt::format("cannot write {}: {}", displayPath, std::strerror(errno)));
    if (!writeAll(file.get(), text) || (owner && fchown(file.get(), owner->uid, owner->gid) < 0) ||
        fchmod(file.get(), mode) < 0 || fsync(file.get()) < 0) {
        int writeErrno = errno;
        unlinkat(dirFd, temporary.c_str(), 0);
        throw Error(ErrorCode::Failed, fmt::format("cannot write {}: {}", displayPath, std::strerror(writeErrno)));
    }
    if (renameat(dirFd, temporary.c_str(), dirFd, name.c_str()) < 0) {
        int renameErrno = errno;
        unlinkat(dirFd, temporary.c_str(), 0);
        throw Error(ErrorCode::Failed, fmt::format("cannot replace {}: {}", displayPath, std::strerror(renameErrno)));
    }
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
