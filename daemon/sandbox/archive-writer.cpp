#include "archive-writer.h"

#include "directory-entries.h"
#include "errors.h"
#include "job-canceled.h"
#include "tree-copier.h"
#include "unique-fd.h"

#include <archive.h>
#include <archive_entry.h>
#include <cerrno>
#include <chrono>
#include <climits>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <map>
#include <memory>
#include <poll.h>
#include <sys/stat.h>
#include <unistd.h>
#include <utility>
#include <vector>

namespace bred {
namespace {

using ArchiveWriter = std::unique_ptr<archive, decltype(&archive_write_free)>;
using Entry = std::unique_ptr<archive_entry, decltype(&archive_entry_free)>;

constexpr std::size_t readChunk = 1 << 20;
constexpr auto reportInterval = std::chrono::milliseconds(100);

[[noreturn]] void fail(const std::string& what, const std::string& path)
{
    throw Error(ErrorCode::Failed, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

bool cancelPending(int cancelFd)
{
    if (cancelFd < 0)
        return false;
    pollfd wait{cancelFd, POLLIN, 0};
    return poll(&wait, 1, 0) > 0;
}

class Packer {
public:
    Packer(int outputFd, const PackOptions& options) : outputFd_(outputFd), options_(options)
    {
        struct stat st { };
        // A pipe or socket takes a write without blocking only once poll says it has
        // room, and then at least PIPE_BUF: write no more at a time, so a reader that
        // stops reading never keeps a cancel waiting.
        writeChunk_ = fstat(outputFd, &st) == 0 && S_ISREG(st.st_mode) ? readChunk : PIPE_BUF;
    }

    void run(int treeFd, ArchiveCompression compression)
    {
        ArchiveWriter writer(archive_write_new(), archive_write_free);
        if (!writer)
            throw Error(ErrorCode::Failed, "cannot start writing the archive: out of memory");
        writer_ = writer.get();
        int filter = ARCHIVE_OK;
        switch (compression) {
        case ArchiveCompression::Zstd:
            filter = archive_write_add_filter_zstd(writer_);
            break;
        case ArchiveCompression::Gzip:
            filter = archive_write_add_filter_gzip(writer_);
            break;
        case ArchiveCompression::Xz:
            filter = archive_write_add_filter_xz(writer_);
            break;
        case ArchiveCompression::None:
            filter = archive_write_add_filter_none(writer_);
            break;
        }
        // No padding after a compressed stream: a zstd reader takes zeros there for a broken frame.
        if (compression != ArchiveCompression::None)
            archive_write_set_bytes_in_last_block(writer_, 1);
        // Full pax, not restricted pax: restricted writes an extended header only for
        // entries that need one for other reasons, and so cuts the other entries'
        // times to whole seconds, where Clone keeps nanoseconds.
        if (filter != ARCHIVE_OK || archive_write_set_format_pax(writer_) != ARCHIVE_OK ||
            archive_write_open2(writer_, this, nullptr, &Packer::writeCallback, nullptr, nullptr) != ARCHIVE_OK)
            archiveFailed("cannot start writing the archive");

        struct stat st { };
        if (fstat(treeFd, &st) < 0)
            fail("cannot read", "/");
        packDirectory(treeFd, ".", "/", st);
        if (archive_write_close(writer_) != ARCHIVE_OK)
            archiveFailed("cannot finish the archive");
        report(true);
    }

private:
    static la_ssize_t writeCallback(archive* writer, void* self, const void* data, std::size_t size)
    {
        auto* packer = static_cast<Packer*>(self);
        const int result = packer->write(static_cast<const char*>(data), size);
        if (result < 0) {
            archive_set_error(writer, errno, "%s", std::strerror(errno));
            return -1;
        }
        return la_ssize_t(size);
    }

    // Writes all of `data`, waiting for room without blocking a cancel.
    int write(const char* data, std::size_t size)
    {
        while (size > 0) {
            pollfd waits[2] = {{outputFd_, POLLOUT, 0}, {options_.cancelFd, POLLIN, 0}};
            if (poll(waits, options_.cancelFd >= 0 ? 2 : 1, -1) < 0) {
                if (errno == EINTR)
                    continue;
                return -1;
            }
            if (waits[1].revents & POLLIN) {
                canceled_ = true;
                errno = ECANCELED;
                return -1;
            }
            if (waits[0].revents & (POLLERR | POLLHUP) && !(waits[0].revents & POLLOUT)) {
                errno = EPIPE;
                return -1;
            }
            ssize_t written = ::write(outputFd_, data, std::min(size, writeChunk_));
            if (written < 0) {
                if (errno == EINTR || errno == EAGAIN)
                    continue;
                return -1;
            }
            data += written;
            size -= std::size_t(written);
        }
        return 0;
    }

    [[noreturn]] void archiveFailed(const std::string& what)
    {
        if (canceled_)
            throw JobCanceled{};
        const char* message = archive_error_string(writer_);
        throw Error(ErrorCode::Failed, fmt::format("{}: {}", what, message ? message : "unknown error"));
    }

    void checkCancel()
    {
        if (cancelPending(options_.cancelFd))
            throw JobCanceled{};
    }

    void writeHeader(archive_entry* entry, const std::string& displayPath)
    {
        if (archive_write_header(writer_, entry) < ARCHIVE_WARN)
            archiveFailed(fmt::format("cannot add {} to the archive", displayPath));
    }

    Entry newEntry(const std::string& archivePath, const struct stat& st,
                   const std::vector<std::pair<std::string, std::string>>& xattrs)
    {
        Entry entry(archive_entry_new(), archive_entry_free);
        archive_entry_set_pathname(entry.get(), archivePath.c_str());
        archive_entry_copy_stat(entry.get(), &st);
        if (!S_ISREG(st.st_mode))
            archive_entry_set_size(entry.get(), 0);
        for (const auto& [name, value] : xattrs) {
            if (name == "system.posix_acl_access")
                addAcl(entry.get(), ARCHIVE_ENTRY_ACL_TYPE_ACCESS, value);
            else if (name == "system.posix_acl_default")
                addAcl(entry.get(), ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, value);
            else
                archive_entry_xattr_add_entry(entry.get(), name.c_str(), value.data(), value.size());
        }
        return entry;
    }

    // A POSIX ACL goes into the archive as an ACL (pax SCHILY.acl.*), which is what
    // an extractor restores; as an xattr it is left out. The xattr's form is the
    // kernel's: a version, then (tag, permissions, id) entries, little-endian.
    static void addAcl(archive_entry* entry, int type, const std::string& value)
    {
        constexpr std::size_t headerSize = 4, entrySize = 8;
        auto read16 = [&value](std::size_t at) {
            return unsigned(std::uint8_t(value[at])) | unsigned(std::uint8_t(value[at + 1])) << 8;
        };
        auto read32 = [&](std::size_t at) { return read16(at) | read16(at + 2) << 16; };
        if (value.size() < headerSize || read32(0) != 2)
            return;
        for (std::size_t at = headerSize; at + entrySize <= value.size(); at += entrySize) {
            int tag = 0;
            switch (read16(at)) {
            case 0x01:
                tag = ARCHIVE_ENTRY_ACL_USER_OBJ;
                break;
            case 0x02:
                tag = ARCHIVE_ENTRY_ACL_USER;
                break;
            case 0x04:
                tag = ARCHIVE_ENTRY_ACL_GROUP_OBJ;
                break;
            case 0x08:
                tag = ARCHIVE_ENTRY_ACL_GROUP;
                break;
            case 0x10:
                tag = ARCHIVE_ENTRY_ACL_MASK;
                break;
            case 0x20:
                tag = ARCHIVE_ENTRY_ACL_OTHER;
                break;
            default:
                continue;
            }
            const unsigned permissions = read16(at + 2);
            int permset = 0;
            if (permissions & 4)
                permset |= ARCHIVE_ENTRY_ACL_READ;
            if (permissions & 2)
                permset |= ARCHIVE_ENTRY_ACL_WRITE;
            if (permissions & 1)
                permset |= ARCHIVE_ENTRY_ACL_EXECUTE;
            const bool hasId = tag == ARCHIVE_ENTRY_ACL_USER || tag == ARCHIVE_ENTRY_ACL_GROUP;
            archive_entry_acl_add_entry(entry, type, permset, tag, hasId ? int(read32(at + 4)) : -1, nullptr);
        }
    }

    void packDirectory(int dirFd, const std::string& archivePath, const std::string& displayPath, const struct stat& st)
    {
        checkCancel();
        Entry entry = newEntry(archivePath, st, readXattrs(dirFd, {}, displayPath));
        writeHeader(entry.get(), displayPath);
        for (const auto& child : listDirectory(dirFd))
            packEntry(dirFd, child.name, archivePath + "/" + child.name,
                      (displayPath == "/" ? "" : displayPath) + "/" + child.name);
    }

    void packEntry(int dirFd, const std::string& name, const std::string& archivePath, const std::string& displayPath)
    {
        struct stat st { };
        if (fstatat(dirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
            fail("cannot read", displayPath);
        if (S_ISDIR(st.st_mode)) {
            UniqueFd child = openSubdirectory(dirFd, name);
            if (!child && errno == EXDEV) {
                // Another filesystem is mounted here: keep the mount point, not what is mounted.
                log(fmt::format("Not exporting {}: another filesystem is mounted there.", displayPath));
                Entry entry = newEntry(archivePath, st, readXattrs(-1, procPath(dirFd, name), displayPath));
                writeHeader(entry.get(), displayPath);
                return;
            }
            if (!child)
                fail("cannot open", displayPath);
            struct stat opened { };
            if (fstat(child.get(), &opened) < 0)
                fail("cannot read", displayPath);
            packDirectory(child.get(), archivePath, displayPath, opened);
            return;
        }
        if (S_ISSOCK(st.st_mode)) {
            log(fmt::format("Not exporting {}: a socket, which lives only while its program runs.", displayPath));
            return;
        }
        // Every link of a file but the first is a hard link to the first's path.
        if (st.st_nlink > 1) {
            auto [known, inserted] = hardlinks_.try_emplace({st.st_dev, st.st_ino}, archivePath);
            if (!inserted) {
                Entry entry = newEntry(archivePath, st, {});
                archive_entry_set_size(entry.get(), 0);
                archive_entry_set_hardlink(entry.get(), known->second.c_str());
                writeHeader(entry.get(), displayPath);
                return;
            }
        }
        if (S_ISREG(st.st_mode)) {
            packFile(dirFd, name, archivePath, displayPath, st);
            return;
        }
        Entry entry = newEntry(archivePath, st, readXattrs(-1, procPath(dirFd, name), displayPath));
        if (S_ISLNK(st.st_mode)) {
            std::vector<char> link(std::size_t(st.st_size) + 1);
            ssize_t length = readlinkat(dirFd, name.c_str(), link.data(), link.size());
            if (length < 0)
                fail("cannot read the link", displayPath);
            archive_entry_set_symlink(entry.get(), std::string(link.data(), std::size_t(length)).c_str());
        }
        writeHeader(entry.get(), displayPath);
    }

    void packFile(int dirFd, const std::string& name, const std::string& archivePath, const std::string& displayPath,
                  const struct stat& st)
    {
        // O_NONBLOCK and the inode check: nothing but the regular file just seen
        // is read, whatever was put in its place since.
        UniqueFd file(
            openat(dirFd, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME));
        struct stat opened { };
        if (!file || fstat(file.get(), &opened) < 0)
            fail("cannot open", displayPath);
        if (!S_ISREG(opened.st_mode) || opened.st_dev != st.st_dev || opened.st_ino != st.st_ino)
            throw Error(
                ErrorCode::Failed,
                fmt::format("cannot export {}: it was replaced while being read; stop the machine and try again.",
                            displayPath));
        Entry entry = newEntry(archivePath, opened, readXattrs(file.get(), {}, displayPath));
        const off_t size = opened.st_size;
        // The data regions; the holes between them stay holes (pax sparse entries).
        std::vector<std::pair<off_t, off_t>> regions;
        off_t dataBytes = 0;
        bool holesKnown = true;
        for (off_t offset = 0; offset < size;) {
            off_t start = lseek(file.get(), offset, SEEK_DATA);
            if (start < 0) {
                holesKnown = errno == ENXIO; // ENXIO: only a hole is left
                break;
            }
            off_t end = lseek(file.get(), start, SEEK_HOLE);
            if (end < 0 || end > size)
                end = size;
            regions.emplace_back(start, end - start);
            dataBytes += end - start;
            offset = end;
        }
        if (!holesKnown) {
            regions = {{0, size}};
            dataBytes = size;
        }
        if (dataBytes < size) {
            for (const auto& [offset, length] : regions)
                archive_entry_sparse_add_entry(entry.get(), offset, length);
            if (regions.empty() || regions.back().first + regions.back().second < size)
                archive_entry_sparse_add_entry(entry.get(), size, 0);
        }
        writeHeader(entry.get(), displayPath);

        // The writer takes every byte up to the size, holes as zeros, which it leaves out.
        std::vector<char> buffer(readChunk);
        off_t position = 0;
        auto writeData = [&](const char* data, std::size_t length) {
            if (archive_write_data(writer_, data, length) < 0)
                archiveFailed(fmt::format("cannot add {} to the archive", displayPath));
        };
        auto writeZeros = [&](off_t until) {
            std::fill(buffer.begin(), buffer.end(), 0);
            while (position < until) {
                std::size_t length = std::size_t(std::min<off_t>(until - position, off_t(buffer.size())));
                writeData(buffer.data(), length);
                position += off_t(length);
            }
        };
        for (const auto& [offset, length] : regions) {
            writeZeros(offset);
            const off_t end = offset + length;
            while (position < end) {
                checkCancel();
                std::size_t want = std::size_t(std::min<off_t>(end - position, off_t(buffer.size())));
                ssize_t got = pread(file.get(), buffer.data(), want, position);
                if (got < 0)
                    fail("cannot read", displayPath);
                if (got == 0) {
                    // It shrank: the archive still needs its size in bytes.
                    std::fill(buffer.begin(), buffer.end(), 0);
                    got = ssize_t(want);
                }
                writeData(buffer.data(), std::size_t(got));
                position += got;
                bytesPacked_ += std::uint64_t(got);
                report(false);
            }
        }
        writeZeros(size);
    }

    void log(const std::string& line)
    {
        if (options_.log)
            options_.log(line);
    }

    void report(bool final)
    {
        if (!options_.progress)
            return;
        auto now = std::chrono::steady_clock::now();
        if (!final && now - lastReport_ < reportInterval)
            return;
        lastReport_ = now;
        options_.progress(bytesPacked_);
    }

    const int outputFd_;
    const PackOptions& options_;
    std::size_t writeChunk_;
    archive* writer_ = nullptr;
    bool canceled_ = false;
    std::uint64_t bytesPacked_ = 0;
    std::chrono::steady_clock::time_point lastReport_{};
    std::map<std::pair<dev_t, ino_t>, std::string> hardlinks_;
};

} // namespace

std::optional<ArchiveCompression> archiveCompressionFromName(std::string_view name)
{
    if (name == "zst")
        return ArchiveCompression::Zstd;
    if (name == "gz")
        return ArchiveCompression::Gzip;
    if (name == "xz")
        return ArchiveCompression::Xz;
    if (name == "none")
        return ArchiveCompression::None;
    return std::nullopt;
}

void packTree(int treeFd, int outputFd, ArchiveCompression compression, const PackOptions& options)
{
    Packer packer(outputFd, options);
    packer.run(treeFd, compression);
}

} // namespace bred
