// Deleting a machine's tree: never following symlinks, never crossing into
// another mount, clearing immutable attributes a container may have set.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace bred {

// Number of entries beneath the directory (not counting it).
std::uint64_t countTreeEntries(int dirFd);

// Removes directory `name` in `parentFd` and everything beneath it. `onEntryRemoved`
// runs after each entry and may throw to stop. A mount point inside the tree stops
// the removal with Error(Busy); the entries already removed stay removed.
void removeTree(int parentFd, const std::string& name, const std::function<void()>& onEntryRemoved);

} // namespace bred
