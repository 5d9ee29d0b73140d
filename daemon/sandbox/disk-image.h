// Disk images (Debian's cloud disk.raw): the unpacking helper finds the root
// partition in the GPT; the daemon, which alone may mount, mounts that
// partition's filesystem read-only through a loop device inside the job's work
// directory; and the helper, confined to that directory, copies the tree out.
#pragma once

#include "archive-extractor.h"
#include "unique-fd.h"

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace bred {

constexpr std::uint64_t diskSectorSize = 512;
constexpr std::uint32_t maxGptEntries = 1024;

struct GptPartition {
    unsigned number;      // 1-based, as the kernel names them
    std::string typeGuid; // upper case, e.g. 0FC63DAF-8483-4772-8E79-3D69D8477DE4
    std::uint64_t offset; // bytes
    std::uint64_t size;   // bytes
};

// Reads the GPT of the image open at `fd` (512-byte sectors). Throws Error(BadArchive).
// The partitions are sector aligned and not empty, their ends representable;
// whether they lie within the image is for partitionFits.
std::vector<GptPartition> readGpt(int fd);

// The root partition: the one "Linux root" partition for `architecture` (a
// systemd name), else the only generic Linux filesystem partition. Throws
// Error(BadArchive) when there is none or the choice is ambiguous.
GptPartition findRootPartition(const std::vector<GptPartition>& partitions, const std::string& architecture);

// True when `partition` is sector aligned, not empty, and lies within an
// image of `imageSize` bytes.
bool partitionFits(const GptPartition& partition, std::uint64_t imageSize);
// Throws Error(BadArchive) unless `partition` fits the image open at `imageFd`, a regular file.
void checkPartitionInImage(int imageFd, const GptPartition& partition);

// The filesystem of `partition` of the disk image open as `imageFd` (a
// regular file), mounted read-only, nosuid, nodev and noexec on `mountPoint`
// (an existing directory, not a symlink) through a read-only loop device, for
// as long as this object lives: then it is unmounted (MNT_DETACH) and the
// loop device freed. Checks the partition first (checkPartitionInImage): it
// comes from the unpacking helper. Throws Error(BadArchive) when no
// filesystem we know mounts, Error(NotSupported) without loop devices.
class PartitionMount {
public:
    PartitionMount(int imageFd, const GptPartition& partition, const std::filesystem::path& mountPoint);
    ~PartitionMount();
    PartitionMount(const PartitionMount&) = delete;
    PartitionMount& operator=(const PartitionMount&) = delete;

private:
    UniqueFd loopDevice_;
    std::filesystem::path mountPoint_;
};

// Copies the tree at `source` (a mounted disk image's filesystem) into
// `target`, an existing empty directory, as extractArchive unpacks an archive:
// owners, modes, times, xattrs, ACLs, hard links and device nodes (each passed
// to options.deviceNode), no more than options.maxTreeBytes of file data
// (beyond, Error(BadArchive)), never writing through a symlink. Run by the
// unpacking helper: the source is as hostile as an archive. Returns the
// number of bytes of file data written.
std::uint64_t copyMountedTree(const std::filesystem::path& source, const std::filesystem::path& target,
                              const ExtractOptions& options);

} // namespace bred
