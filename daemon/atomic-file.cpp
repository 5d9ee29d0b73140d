#include "atomic-file.h"

#include "errors.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <random>
#include <unistd.h>

namespace bred {

std::string randomSuffix()
{
    std::random_device random;
    return fmt::format("{:08x}", random());
}

void writeFileAtomically(const std::filesystem::path& path, const std::string& text, mode_t mode)
{
    std::error_code error;
    std::filesystem::create_directories(path.parent_path(), error);
    auto temporary = path.string() + ".#bred-" + randomSuffix();
    {
        UniqueFd file(open(temporary.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode));
        if (!file || write(file.get(), text.data(), text.size()) != ssize_t(text.size()) || fsync(file.get()) < 0) {
            int writeErrno = errno;
            unlink(temporary.c_str());
            throw Error(ErrorCode::Failed,
                        fmt::format("cannot write {}: {}", path.string(), std::strerror(writeErrno)));
        }
    }
    if (::rename(temporary.c_str(), path.c_str()) < 0) {
        int renameErrno = errno;
        unlink(temporary.c_str());
        throw Error(ErrorCode::Failed, fmt::format("cannot replace {}: {}", path.string(), std::strerror(renameErrno)));
    }
}

} // namespace bred
