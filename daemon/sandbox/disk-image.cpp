#include "disk-image.h"

#include "errors.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <cstring>
#include <endian.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/loop.h>
#include <memory>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/sysmacros.h>
#include <sys/stat.h>
#include <sched.h>
#include <unistd.h>
#include <vector>

namespace bred {
namespace {

constexpr const char* genericLinuxGuid = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";

// The "Linux root" partition types of the Discoverable Partitions Specification.
std::string rootGuidFor(const std::string& architecture)
{
    if (architecture == "x86-64")
        return "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709";
    if (architecture == "arm64")
        return "B921B045-1DF0-41C3-AF44-4C6F280D3FAE";
    if (architecture == "x86")
        return "44479540-F297-41B2-9AF7-D131D5F0458A";
    if (architecture == "arm")
        return "69DAD710-2CE4-4E3C-B16C-21A1D49ABED3";
    if (architecture == "riscv64")
        return "72EC70A6-CF74-40E6-BD49-4BDA08E8F224";
    return {};
}

// A GPT GUID is stored mixed-endian: the first three fields little-endian.
std::string formatGuid(const unsigned char* raw)
{
    return fmt::format(
        "{:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}", raw[3],
        raw[2], raw[1], raw[0], raw[5], raw[4], raw[7], raw[6], raw[8], raw[9], raw[10], raw[11], raw[12], raw[13],
        raw[14], raw[15]);
}

std::uint64_t le64(const unsigned char* p)
{
    std::uint64_t value;
    std::memcpy(&value, p, 8);
    return le64toh(value);
}

std::uint32_t le32(const unsigned char* p)
{
    std::uint32_t value;
    std::memcpy(&value, p, 4);
    return le32toh(value);
}

void readExactly(int fd, void* buffer, std::size_t size, std::uint64_t offset)
{
    if (pread(fd, buffer, size, static_cast<off_t>(offset)) != static_cast<ssize_t>(size))
        throw Error(ErrorCode::BadArchive, "The disk image is too short for its partition table.");
}

// A read-only loop device over part of a file; detached when closed.
UniqueFd attachLoop(int fileFd, std::uint64_t offset, std::uint64_t size, std::string& devicePath)
{
    UniqueFd control(open("/dev/loop-control", O_RDWR | O_CLOEXEC));
    if (!control)
        throw Error(ErrorCode::NotSupported,
                    fmt::format("Disk images need loop devices, and /dev/loop-control cannot be opened: {}",
                                std::strerror(errno)));
    for (int attempt = 0; attempt < 16; ++attempt) {
        int number = ioctl(control.get(), LOOP_CTL_GET_FREE);
        if (number < 0)
            break;
        devicePath = fmt::format("/dev/loop{}", number);
        UniqueFd device(open(devicePath.c_str(), O_RDONLY | O_CLOEXEC));
        if (!device && errno == ENOENT && mknod(devicePath.c_str(), S_IFBLK | 0600, makedev(7, number)) == 0)
            device = UniqueFd(open(devicePath.c_str(), O_RDONLY | O_CLOEXEC));
        if (!device)
            continue;
        loop_config config{};
        config.fd = static_cast<std::uint32_t>(fileFd);
        config.info.lo_offset = offset;
        config.info.lo_sizelimit = size;
        config.info.lo_flags = LO_FLAGS_READ_ONLY | LO_FLAGS_AUTOCLEAR;
        if (ioctl(device.get(), LOOP_CONFIGURE, &config) == 0)
            return device;
        if (errno != EBUSY)
            throw Error(ErrorCode::Failed, fmt::format("cannot set up {}: {}", devicePath, std::strerror(errno)));
    }
    throw Error(ErrorCode::Failed, "No free loop device for the disk image.");
}

[[noreturn]] void refuseTooLarge(std::uint64_t maxTreeBytes)
{
    throw Error(ErrorCode::BadArchive,
                fmt::format("The disk image's tree is larger than the limit of {} bytes (max_tree_bytes in the "
                            "daemon's configuration); refusing it.",
                            maxTreeBytes));
}

// What the disk writer says went wrong with `path`: a full disk is ours, the rest the image's.
[[noreturn]] void throwWriteError(archive* writer, const char* what, const std::string& path)
{
    const char* message = archive_error_string(writer);
    int error = archive_errno(writer);
    throw Error(
        error == ENOSPC || error == EDQUOT ? ErrorCode::Failed : ErrorCode::BadArchive,
        fmt::format("Cannot {} '{}' of the disk image: {}", what, path, message ? message : std::strerror(error)));
}

} // namespace

std::vector<GptPartition> readGpt(int fd)
{
    unsigned char header[diskSectorSize];
    readExactly(fd, header, sizeof header, diskSectorSize);
    if (std::memcmp(header, "EFI PART", 8) != 0)
        throw Error(ErrorCode::BadArchive, "The disk image has no GPT partition table.");
    std::uint64_t entriesLba = le64(header + 72);
    std::uint32_t count = le32(header + 80);
    std::uint32_t entrySize = le32(header + 84);
    // Sector numbers beyond this would overflow as byte offsets (the end of the last sector included).
    constexpr std::uint64_t maxSector = UINT64_MAX / diskSectorSize - 1;
    if (count > maxGptEntries || entrySize < 128 || entrySize > 4096 || entriesLba > maxSector)
        throw Error(ErrorCode::BadArchive, "The disk image's partition table is malformed.");
    std::vector<unsigned char> entries(std::size_t(count) * entrySize);
    readExactly(fd, entries.data(), entries.size(), entriesLba * diskSectorSize);
    std::vector<GptPartition> partitions;
    for (std::uint32_t i = 0; i < count; ++i) {
        const unsigned char* entry = entries.data() + std::size_t(i) * entrySize;
        static const unsigned char unused[16] = {};
        if (std::memcmp(entry, unused, 16) == 0)
            continue;
        std::uint64_t first = le64(entry + 32), last = le64(entry + 40);
        if (last < first)
            throw Error(ErrorCode::BadArchive, "The disk image has a partition that ends before it starts.");
        if (last > maxSector)
            throw Error(ErrorCode::BadArchive, "The disk image's partition table is malformed.");
        partitions.push_back({i + 1, formatGuid(entry), first * diskSectorSize, (last - first + 1) * diskSectorSize});
    }
    return partitions;
}

bool partitionFits(const GptPartition& partition, std::uint64_t imageSize)
{
    return partition.size > 0 && partition.offset % diskSectorSize == 0 && partition.size % diskSectorSize == 0 &&
           partition.size <= imageSize && partition.offset <= imageSize - partition.size;
}

void checkPartitionInImage(int imageFd, const GptPartition& partition)
{
    struct stat image { };
    if (fstat(imageFd, &image) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot inspect the disk image: {}", std::strerror(errno)));
    if (!S_ISREG(image.st_mode) || !partitionFits(partition, std::uint64_t(image.st_size)))
        throw Error(ErrorCode::BadArchive,
                    fmt::format("Partition {} of the disk image does not lie within the image.", partition.number));
}

GptPartition findRootPartition(const std::vector<GptPartition>& partitions, const std::string& architecture)
{
    for (const std::string& wanted : {rootGuidFor(architecture), std::string(genericLinuxGuid)}) {
        if (wanted.empty())
            continue;
        std::vector<GptPartition> matches;
        for (const auto& partition : partitions)
            if (partition.typeGuid == wanted)
                matches.push_back(partition);
        if (matches.size() == 1)
            return matches.front();
        if (matches.size() > 1)
            throw Error(ErrorCode::BadArchive,
                        fmt::format("The disk image has {} partitions of type {}; which is the root is unclear.",
                                    matches.size(), wanted));
    }
    throw Error(ErrorCode::BadArchive, "The disk image has no Linux root partition.");
}

PartitionMount::PartitionMount(int imageFd, const GptPartition& partition, const std::filesystem::path& mountPoint) :
    mountPoint_(mountPoint)
{
    checkPartitionInImage(imageFd, partition);
    std::string devicePath;
    loopDevice_ = attachLoop(imageFd, partition.offset, partition.size, devicePath);
    // Mounted through a descriptor opened without following a symlink: the
    // helper has had the run of the work directory.
    UniqueFd pointFd(open(mountPoint.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!pointFd)
        throw Error(ErrorCode::Failed, fmt::format("cannot open {}: {}", mountPoint.string(), std::strerror(errno)));
    const std::string point = fmt::format("/proc/self/fd/{}", pointFd.get());
    int mounted = -1;
    for (const char* type : {"ext4", "xfs", "btrfs"})
        if ((mounted = mount(devicePath.c_str(), point.c_str(), type, MS_RDONLY | MS_NODEV | MS_NOSUID | MS_NOEXEC,
                             nullptr)) == 0)
            break;
    if (mounted < 0)
        throw Error(ErrorCode::BadArchive,
                    fmt::format("The root partition of the disk image cannot be mounted: {}", std::strerror(errno)));
}

PartitionMount::~PartitionMount()
{
    // The loop device was attached with LO_FLAGS_AUTOCLEAR: once unmounted,
    // closing our descriptor (loopDevice_, after this body) frees it.
    umount2(mountPoint_.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW);
}

std::uint64_t copyMountedTree(const std::filesystem::path& source, const std::filesystem::path& target,
                              const ExtractOptions& options)
{
    std::unique_ptr<archive, decltype(&archive_read_free)> reader(archive_read_disk_new(), archive_read_free);
    std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_disk_new(), archive_write_free);
    std::unique_ptr<archive_entry_linkresolver, decltype(&archive_entry_linkresolver_free)> links(
        archive_entry_linkresolver_new(), archive_entry_linkresolver_free);
    archive_entry_linkresolver_set_strategy(links.get(), ARCHIVE_FORMAT_TAR_PAX_RESTRICTED);
    archive_read_disk_set_behavior(reader.get(), ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS);
    archive_read_disk_set_symlink_physical(reader.get());
    archive_write_disk_set_options(
        writer.get(), ARCHIVE_EXTRACT_OWNER | ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_TIME | ARCHIVE_EXTRACT_XATTR |
                          ARCHIVE_EXTRACT_ACL | ARCHIVE_EXTRACT_SPARSE | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
                          ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS);
    // The writer works relative to the working directory, this thread's own.
    if (unshare(CLONE_FS) < 0 || chdir(target.c_str()) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot enter {}: {}", target.string(), std::strerror(errno)));
    if (archive_read_disk_open(reader.get(), source.c_str()) != ARCHIVE_OK)
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot read {}: {}", source.string(), archive_error_string(reader.get())));
    const std::string prefix = source.string() + "/";
    std::uint64_t written = 0;
    std::vector<char> buffer(1 << 20);
    for (;;) {
        std::unique_ptr<archive_entry, decltype(&archive_entry_free)> entry(archive_entry_new(), archive_entry_free);
        int status = archive_read_next_header2(reader.get(), entry.get());
        if (status == ARCHIVE_EOF)
            break;
        if (status < ARCHIVE_WARN)
            throw Error(ErrorCode::BadArchive,
                        fmt::format("Cannot read the disk image's tree: {}", archive_error_string(reader.get())));
        archive_read_disk_descend(reader.get());
        std::string sourcePath = archive_entry_pathname(entry.get());
        if (!sourcePath.starts_with(prefix))
            continue; // the top directory itself
        std::string path = sourcePath.substr(prefix.size());
        archive_entry_set_pathname(entry.get(), path.c_str());
        archive_entry* raw = entry.release();
        archive_entry* spare = nullptr;
        archive_entry_linkify(links.get(), &raw, &spare);
        entry.reset(raw);
        if (!raw)
            continue;
        const bool hasData = archive_entry_filetype(raw) == AE_IFREG && archive_entry_size(raw) > 0;
        if (hasData && written + std::uint64_t(archive_entry_size(raw)) > options.maxTreeBytes)
            refuseTooLarge(options.maxTreeBytes);
        if (archive_write_header(writer.get(), raw) < ARCHIVE_WARN)
            throwWriteError(writer.get(), "copy", path);
        if (hasData) {
            UniqueFd file(open(sourcePath.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
            if (!file)
                throw Error(ErrorCode::BadArchive,
                            fmt::format("Cannot read '{}' of the disk image: {}", path, std::strerror(errno)));
            for (la_int64_t offset = 0;;) {
                ssize_t n = read(file.get(), buffer.data(), buffer.size());
                if (n == 0)
                    break;
                if (n < 0 && errno == EINTR)
                    continue;
                if (n < 0)
                    throw Error(ErrorCode::BadArchive,
                                fmt::format("Cannot read '{}' of the disk image: {}", path, std::strerror(errno)));
                written += std::uint64_t(n);
                if (written > options.maxTreeBytes)
                    refuseTooLarge(options.maxTreeBytes);
                if (archive_write_data_block(writer.get(), buffer.data(), std::size_t(n), offset) < ARCHIVE_WARN)
                    throwWriteError(writer.get(), "write", path);
                offset += n;
            }
        }
        if (archive_write_finish_entry(writer.get()) < ARCHIVE_WARN)
            throwWriteError(writer.get(), "finish", path);
        if (options.deviceNode && (archive_entry_filetype(raw) == AE_IFCHR || archive_entry_filetype(raw) == AE_IFBLK))
            options.deviceNode(target / path);
    }
    // Directory times and modes are set last, when every entry is in.
    if (archive_write_close(writer.get()) < ARCHIVE_WARN)
        throwWriteError(writer.get(), "finish copying", ".");
    return written;
}

} // namespace bred
