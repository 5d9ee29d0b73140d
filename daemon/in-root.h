// File access inside a machine's tree with every path, symlinks included,
// resolved as if the tree were the root directory, so a tree's symlink never
// leads the daemon to a host file.
#pragma once

#include "unique-fd.h"

#include <optional>
#include <string>

namespace bred {

// openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS); returns an invalid fd and sets errno on failure.
UniqueFd openInRoot(int rootFd, const std::string& path, int flags, unsigned mode = 0);

// Reads a regular file inside the tree, at most maxBytes; nullopt if it is missing,
// not a regular file, or larger. Never opens devices or FIFOs.
std::optional<std::string> readFileInRoot(int rootFd, const std::string& path, std::size_t maxBytes);

// The first `bytes` bytes (or fewer, if the file is shorter) of a regular file inside the tree.
std::optional<std::string> readFileHeadInRoot(int rootFd, const std::string& path, std::size_t bytes);

// Replaces the regular file at `path` inside the tree with `content`, whole:
// written to a hidden file beside it, synced, renamed over it. Keeps the old
// file's mode (0644 for a new file). The parent directory must exist. Throws Error.
void replaceFileInRoot(int rootFd, const std::string& path, const std::string& content);

} // namespace bred
