// Writing a machine's tree as a tar (pax) archive: the tree is the
// container's, so it is walked by descriptors, never following a symlink,
// never opening what is not a regular file, never leaving its filesystem.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace bred {

enum class ArchiveCompression { Zstd, Gzip, Xz, None };

// "zst", "gz", "xz" or "none"; nullopt for anything else.
std::optional<ArchiveCompression> archiveCompressionFromName(std::string_view name);

struct PackOptions {
    // Readable (an eventfd) when the work is to stop: waiting to write wakes on it.
    int cancelFd = -1;
    // Called now and then with the file data packed so far.
    std::function<void(std::uint64_t bytesPacked)> progress;
    std::function<void(const std::string&)> log;
};

// Writes the tree at directory fd `treeFd` to `outputFd` (a regular file, pipe
// or socket, open for writing), as pax with `compression`: owners, modes,
// times, xattrs (file capabilities and POSIX ACLs among them), hard links,
// holes, symlinks, device nodes and FIFOs; sockets are left out and logged,
// as are mounts below the top. Throws Error, or JobCanceled on a cancel.
void packTree(int treeFd, int outputFd, ArchiveCompression compression, const PackOptions& options);

} // namespace bred
