// The bytes a machine's tree allocates, as `du -s -B1 --one-file-system`
// counts them. The tree is the container's: whatever it holds is walked
// without following a symlink or entering another mount.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>

namespace bred {

// Directories deeper than this below the top are counted but not entered: every
// level holds a descriptor open, and a hostile tree could nest without end.
constexpr unsigned maxDiskUsageDepth = 256;

// The sum of st_blocks * 512 over the directory at `directory` (not a symlink)
// and everything beneath it on its filesystem, each inode once however many
// hard links it has. Entries that vanish or cannot be read meanwhile are left
// out: the tree may change while it is walked. `stopRequested` is asked between
// directories; nullopt when it said stop. Throws Error when `directory` cannot be opened.
std::optional<std::uint64_t> treeDiskUsage(const std::filesystem::path& directory,
                                           const std::function<bool()>& stopRequested);

} // namespace bred
