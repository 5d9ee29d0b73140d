// Disk images (Debian's cloud disk.raw): find the root partition in the GPT
// (in the unpacking helper) and copy its filesystem's tree out through a
// read-only loop mount (in the daemon, which alone may mount).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
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

// Copies the tree of the filesystem in `partition` of the disk image open as
// `imageFd` (a regular file) into `target` (an existing empty directory), with
// owners, modes, times, xattrs, ACLs, hard links and device nodes; each device
// node's path under `target` is passed to `deviceNode`. Checks the partition
// first (checkPartitionInImage): it may come from the unpacking helper.
void copyPartitionTree(int imageFd, const GptPartition& partition, const std::filesystem::path& target,
                       const std::function<bool()>& canceled,
                       const std::function<void(const std::filesystem::path&)>& deviceNode);

} // namespace bred
