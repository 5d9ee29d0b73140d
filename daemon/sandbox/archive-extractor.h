// Unpacking rootfs archives with libarchive into a directory, faithfully
// (numeric owners, modes, times, xattrs with file capabilities, ACLs, hard
// links, device nodes, sparse files) and safely: no absolute paths, no "..",
// no writing through symlinks, no hard links leaving the tree, a cap on the
// unpacked size.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>

namespace bred {

struct ExtractOptions {
    std::uint64_t maxTreeBytes = 256ull << 30;
    // OCI/docker layers: ".wh.NAME" deletes NAME of a lower layer, ".wh..wh..opq" empties a directory.
    bool applyWhiteouts = false;
    // Called with the path (under the target) of each device node unpacked, a
    // hard link to one included, for the caller to keep only the tree's /dev ones.
    std::function<void(const std::filesystem::path&)> deviceNode;
};

// Extracts the archive readable from `fd` (any compression libarchive knows)
// into `target`, an existing directory. Throws Error(BadArchive) naming the
// offending entry, or Error(Failed) for local trouble such as a full disk.
// Returns the number of bytes of file data written.
std::uint64_t extractArchive(int fd, const std::filesystem::path& target, const ExtractOptions& options);

} // namespace bred
