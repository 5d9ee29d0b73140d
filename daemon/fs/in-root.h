// File access inside a machine's tree with every path, symlinks included,
// resolved as if the tree were the root directory, so a tree's symlink never
// leads the daemon to a host file. Trees belong to whoever is root in the
// container or made the archive: only regular files are ever opened in them,
// never a device node, FIFO or socket, and writes create a new file and
// rename it into place instead of opening what is there.
#pragma once

#include "unique-fd.h"

#include <optional>
#include <string>
#include <sys/types.h>

namespace bred {

// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); returns an invalid fd and sets errno on failure.
UniqueFd openInRoot(int rootFd, const std::string& path, int flags, unsigned mode = 0);

// Opens the file an O_PATH descriptor refers to with `flags`, the same inode
// whatever happened to its name since.
UniqueFd reopenPathFd(int pathFd, int flags);

// Opens a regular file inside the tree for reading (symlinks followed inside
// the tree). Anything else is never opened: the fd is invalid, errno EINVAL
// for a file that is not regular, as openat2 sets it otherwise.
UniqueFd openRegularFileInRoot(int rootFd, const std::string& path);

// Reads a regular file inside the tree, at most maxBytes; nullopt if it is missing,
// not a regular file, or larger.
std::optional<std::string> readFileInRoot(int rootFd, const std::string& path, std::size_t maxBytes);

// The first `bytes` bytes (or fewer, if the file is shorter) of a regular file inside the tree.
std::optional<std::string> readFileHeadInRoot(int rootFd, const std::string& path, std::size_t bytes);

// What a symlink at the path being written means.
enum class FinalSymlink {
    // The file the container sees there is written: the symlink is followed
    // inside the tree, and a dangling one gets its target created.
    Follow,
    // The symlink itself is replaced by the file.
    Replace,
};

// The one way the daemon writes a file inside a tree: the directory is
// resolved inside the tree, then replaceFileAt() (atomic-file.h, the one
// writer of whole files) writes `content` to a new file there and renames it
// over the target. A regular file keeps its mode and owner (a new file is
// 0644, root's). A target that is not a regular file (device node, FIFO,
// socket, directory) is refused with NotSupported and never opened. The
// directory must exist. Throws Error; leaves no temporary file behind.
void replaceFileInRoot(int rootFd, const std::string& path, const std::string& content,
                       FinalSymlink finalSymlink = FinalSymlink::Follow);

// Creates each missing directory of `path` inside the tree; a symlink on the
// way whose target is missing gets its target created, inside the tree too.
void makeDirectoriesInRoot(int rootFd, const std::string& path);

// Creates the symlink `path` -> `target` inside the tree unless an entry of
// that name exists. The directory must exist.
void makeSymlinkInRoot(int rootFd, const std::string& path, const std::string& target);

// "a block device", "a FIFO", ... for messages.
std::string fileTypeName(mode_t mode);

} // namespace bred
