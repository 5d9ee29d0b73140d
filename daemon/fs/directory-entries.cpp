#include "directory-entries.h"

#include "errors.h"

#include <cerrno>
#include <cstring>
#include <dirent.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <sys/stat.h>
#include <unistd.h>

namespace bred {

std::vector<DirectoryEntry> listDirectory(int dirFd)
{
    // fdopendir takes ownership and shares the offset: give it a fresh open of the same directory.
    int copy = openat(dirFd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    DIR* dir = copy >= 0 ? fdopendir(copy) : nullptr;
    if (!dir) {
        int error = errno;
        if (copy >= 0)
            close(copy);
        throw Error(ErrorCode::Failed, fmt::format("cannot read directory: {}", std::strerror(error)));
    }
    std::unique_ptr<DIR, int (*)(DIR*)> holder(dir, closedir);
    std::vector<DirectoryEntry> entries;
    while (dirent* entry = readdir(dir)) {
        std::string_view name = entry->d_name;
        if (name == "." || name == "..")
            continue;
        bool isDirectory = entry->d_type == DT_DIR;
        if (entry->d_type == DT_UNKNOWN) {
            struct stat st { };
            isDirectory = fstatat(dirFd, entry->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode);
        }
        entries.push_back({std::string(name), isDirectory});
    }
    return entries;
}

} // namespace bred
