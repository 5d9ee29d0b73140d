// Copies a machine's tree exactly: numeric owners, modes with setuid/setgid/
// sticky, nanosecond timestamps, xattrs (file capabilities, POSIX ACLs), hard
// links, symlinks as they are, device nodes, FIFOs, sockets, holes in sparse
// files, every dotfile; never crossing into another mount. File data is
// reflinked (FICLONE) where the filesystem can, else copied in the kernel with
// copy_file_range; the walk and the copies run on several threads.
#pragma once

#include "job-canceled.h"
#include "unique-fd.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace bred {

struct CopyProgress {
    std::uint64_t bytesDone = 0, bytesTotal = 0;
    std::uint64_t entriesDone = 0, entriesTotal = 0;
    bool totalsKnown = false; // the totals are counted while the copy runs
};

struct CopyOptions {
    std::function<bool()> canceled;                    // polled often; true stops with JobCanceled
    std::function<void(const CopyProgress&)> progress; // called now and then from the copying thread
    std::function<void(const std::string&)> log;
    // Creating entries and copying data mostly wait on the filesystem: several
    // threads in flight keep it busy.
    unsigned threads = 6;
    // Device nodes are left out (and logged): a copy out of a container onto
    // the host must not give the host a node the container's root made.
    bool skipDeviceNodes = false;
};

// Copies the tree at directory fd `sourceFd` into the existing empty directory
// fd `targetFd` (whose own metadata is set from the source's). Throws Error.
void copyTree(int sourceFd, int targetFd, const CopyOptions& options);

// Copies the regular file open at `sourceFd` into the new, empty file
// `targetFd` as copyTree copies each file: data (holes kept), owner, mode,
// xattrs, times. `displayPath` names it in errors. Throws Error.
void copyFile(int sourceFd, int targetFd, const std::string& displayPath, const CopyOptions& options);

// The walk's primitives, for other walks of a hostile tree (Export's):
// the extended attributes (file capabilities, POSIX ACLs, ...) of the open
// file `fd`, or when fd < 0 of `path` (a symlink itself, never followed), as
// name and value; none where the filesystem has none. Throws Error.
std::vector<std::pair<std::string, std::string>> readXattrs(int fd, const std::string& path,
                                                            const std::string& displayPath);
// The subdirectory `name` of `parentFd`, never through a symlink nor into
// another mount (invalid, with errno EXDEV, at a mount point).
UniqueFd openSubdirectory(int parentFd, const std::string& name);
// "/proc/self/fd/DIRFD/NAME": the entry `name` of `dirFd` by a path the l*xattr calls take.
std::string procPath(int dirFd, const std::string& name);

} // namespace bred
