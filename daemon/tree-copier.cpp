#include "tree-copier.h"

#include "directory-entries.h"
#include "errors.h"
#include "unique-fd.h"

#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <exception>
#include <fcntl.h>
#include <fmt/format.h>
#include <linux/fs.h>
#include <linux/openat2.h>
#include <map>
#include <mutex>
#include <set>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/xattr.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace bred {
namespace {

constexpr std::size_t copyChunk = 16 << 20;
// Each queued file holds two descriptors; keep a clone well inside any fd limit.
constexpr std::size_t maxQueuedFiles = 64;
constexpr auto reportInterval = std::chrono::milliseconds(100);

[[noreturn]] void fail(const std::string& what, const std::string& path)
{
    throw Error(ErrorCode::Failed, fmt::format("{} {}: {}", what, path, std::strerror(errno)));
}

std::string procPath(int dirFd, const std::string& name)
{
    return "/proc/self/fd/" + std::to_string(dirFd) + "/" + name;
}

// Copies every xattr (file capabilities, POSIX ACLs, SELinux labels, user.*).
// `fd` >= 0 uses the f* calls, else the l* calls on `path`.
void copyXattrs(int sourceFd, const std::string& sourcePath, int targetFd, const std::string& targetPath,
                const std::string& displayPath)
{
    std::vector<char> names(4096);
    ssize_t length;
    for (;;) {
        length = sourceFd >= 0 ? flistxattr(sourceFd, names.data(), names.size())
                               : llistxattr(sourcePath.c_str(), names.data(), names.size());
        if (length >= 0)
            break;
        if (errno == ERANGE) {
            names.resize(names.size() * 4);
            continue;
        }
        if (errno == ENOTSUP || errno == EOPNOTSUPP)
            return;
        fail("cannot list the extended attributes of", displayPath);
    }
    std::vector<char> value(4096);
    for (ssize_t offset = 0; offset < length; offset += ssize_t(std::strlen(names.data() + offset)) + 1) {
        const char* name = names.data() + offset;
        ssize_t size;
        for (;;) {
            size = sourceFd >= 0 ? fgetxattr(sourceFd, name, value.data(), value.size())
                                 : lgetxattr(sourcePath.c_str(), name, value.data(), value.size());
            if (size >= 0 || errno != ERANGE)
                break;
            value.resize(value.size() * 4);
        }
        if (size < 0)
            fail(fmt::format("cannot read attribute {} of", name), displayPath);
        int set = targetFd >= 0 ? fsetxattr(targetFd, name, value.data(), std::size_t(size), 0)
                                : lsetxattr(targetPath.c_str(), name, value.data(), std::size_t(size), 0);
        if (set < 0)
            fail(fmt::format("cannot set attribute {} on", name), displayPath);
    }
}

// Owner, then mode (chown clears setuid), then xattrs (a capability must come
// after the chown, which drops it), then times.
void copyMetadataByFd(int sourceFd, int targetFd, const struct stat& st, const std::string& displayPath)
{
    if (fchown(targetFd, st.st_uid, st.st_gid) < 0)
        fail("cannot set the owner of", displayPath);
    if (fchmod(targetFd, st.st_mode & 07777) < 0)
        fail("cannot set the mode of", displayPath);
    copyXattrs(sourceFd, {}, targetFd, {}, displayPath);
    timespec times[2] = {st.st_atim, st.st_mtim};
    if (futimens(targetFd, times) < 0)
        fail("cannot set the times of", displayPath);
}

// The same for what cannot be opened: symlinks, devices, FIFOs, sockets.
void copyMetadataByName(int sourceDirFd, int targetDirFd, const std::string& name, const struct stat& st,
                        const std::string& displayPath)
{
    if (fchownat(targetDirFd, name.c_str(), st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0)
        fail("cannot set the owner of", displayPath);
    if (!S_ISLNK(st.st_mode) && fchmodat(targetDirFd, name.c_str(), st.st_mode & 07777, 0) < 0)
        fail("cannot set the mode of", displayPath);
    copyXattrs(-1, procPath(sourceDirFd, name), -1, procPath(targetDirFd, name), displayPath);
    timespec times[2] = {st.st_atim, st.st_mtim};
    if (utimensat(targetDirFd, name.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0)
        fail("cannot set the times of", displayPath);
}

UniqueFd openSubdirectory(int parentFd, const std::string& name)
{
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return UniqueFd(static_cast<int>(syscall(SYS_openat2, parentFd, name.c_str(), &how, sizeof how)));
}

struct FileTask {
    UniqueFd source, target;
    struct stat st;
    std::string path;
};

class Copier {
public:
    explicit Copier(const CopyOptions& options) : options_(options) {}

    void run(int sourceFd, int targetFd)
    {
        for (unsigned i = 0; i < std::max(1u, options_.dataThreads); ++i)
            workers_.emplace_back([this] { work(); });
        std::exception_ptr walkError;
        try {
            count(sourceFd);
            copyDirectory(sourceFd, targetFd, "");
        } catch (...) {
            walkError = std::current_exception();
        }
        {
            std::lock_guard lock(mutex_);
            done_ = true;
            if (walkError)
                stopping_ = true;
        }
        changed_.notify_all();
        for (auto& worker : workers_)
            worker.join();
        if (walkError)
            std::rethrow_exception(walkError);
        if (workerError_)
            std::rethrow_exception(workerError_);
        // The top directory's own metadata comes last, once everything inside is in.
        struct stat st {};
        fstat(sourceFd, &st);
        copyMetadataByFd(sourceFd, targetFd, st, "/");
        report(true);
    }

private:
    void count(int dirFd)
    {
        for (const auto& entry : listDirectory(dirFd)) {
            struct stat st {};
            if (fstatat(dirFd, entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            ++progress_.entriesTotal;
            bool firstLink = st.st_nlink < 2 || countedInodes_.insert({st.st_dev, st.st_ino}).second;
            if (S_ISREG(st.st_mode) && firstLink)
                progress_.bytesTotal += std::uint64_t(st.st_size);
            if (entry.isDirectory)
                if (UniqueFd child = openSubdirectory(dirFd, entry.name))
                    count(child.get());
        }
    }

    void checkStop()
    {
        if (options_.canceled && options_.canceled())
            throw CopyStopped{};
        std::lock_guard lock(mutex_);
        if (workerError_)
            std::rethrow_exception(workerError_);
    }

    void copyDirectory(int sourceDirFd, int targetDirFd, const std::string& path)
    {
        for (const auto& entry : listDirectory(sourceDirFd)) {
            checkStop();
            const std::string& name = entry.name;
            std::string childPath = path + "/" + name;
            struct stat st {};
            if (fstatat(sourceDirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
                fail("cannot read", childPath);
            entriesDone_++;
            if (!S_ISDIR(st.st_mode) && st.st_nlink > 1) {
                auto key = std::make_pair(st.st_dev, st.st_ino);
                auto known = hardlinks_.find(key);
                if (known != hardlinks_.end()) {
                    if (linkat(targetRootFd_, known->second.c_str(), targetDirFd, name.c_str(), 0) < 0)
                        fail("cannot link", childPath);
                    continue;
                }
                hardlinks_[key] = childPath.substr(1);
            }
            if (S_ISDIR(st.st_mode)) {
                if (mkdirat(targetDirFd, name.c_str(), 0700) < 0)
                    fail("cannot create", childPath);
                UniqueFd sourceChild = openSubdirectory(sourceDirFd, name);
                UniqueFd targetChild = openSubdirectory(targetDirFd, name);
                if (!sourceChild && errno == EXDEV) {
                    // Another filesystem is mounted here: keep the mount point, not what is mounted.
                    if (options_.log)
                        options_.log(fmt::format("Not copying {}: another filesystem is mounted there.", childPath));
                } else if (!sourceChild || !targetChild) {
                    fail("cannot open", childPath);
                } else {
                    copyDirectory(sourceChild.get(), targetChild.get(), childPath);
                }
                if (!targetChild)
                    targetChild = openSubdirectory(targetDirFd, name);
                UniqueFd sourceMeta(openat(sourceDirFd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                copyMetadataByFd(sourceMeta.get(), targetChild.get(), st, childPath);
            } else if (S_ISREG(st.st_mode)) {
                // O_NOATIME: cloning leaves the source as it was, access times included.
                UniqueFd source(openat(sourceDirFd, name.c_str(),
                                       O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NOATIME));
                if (!source)
                    fail("cannot open", childPath);
                UniqueFd target(openat(targetDirFd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                                       0600));
                if (!target)
                    fail("cannot create", childPath);
                enqueue(FileTask{std::move(source), std::move(target), st, childPath});
            } else if (S_ISLNK(st.st_mode)) {
                std::vector<char> link(std::size_t(st.st_size) + 1);
                ssize_t length = readlinkat(sourceDirFd, name.c_str(), link.data(), link.size());
                if (length < 0)
                    fail("cannot read the link", childPath);
                std::string target(link.data(), std::size_t(length));
                if (symlinkat(target.c_str(), targetDirFd, name.c_str()) < 0)
                    fail("cannot create", childPath);
                copyMetadataByName(sourceDirFd, targetDirFd, name, st, childPath);
            } else {
                if (mknodat(targetDirFd, name.c_str(), st.st_mode, st.st_rdev) < 0)
                    fail("cannot create", childPath);
                copyMetadataByName(sourceDirFd, targetDirFd, name, st, childPath);
            }
            report(false);
        }
    }

    void enqueue(FileTask task)
    {
        std::unique_lock lock(mutex_);
        changed_.wait(lock, [this] { return queue_.size() < maxQueuedFiles || stopping_; });
        if (stopping_)
            return;
        queue_.push_back(std::move(task));
        changed_.notify_all();
    }

    void work()
    {
        for (;;) {
            FileTask task;
            {
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [this] { return !queue_.empty() || done_ || stopping_; });
                if (stopping_ || queue_.empty())
                    return;
                task = std::move(queue_.front());
                queue_.pop_front();
                changed_.notify_all();
            }
            try {
                copyData(task);
                copyMetadataByFd(task.source.get(), task.target.get(), task.st, task.path);
            } catch (...) {
                std::lock_guard lock(mutex_);
                if (!workerError_)
                    workerError_ = std::current_exception();
                stopping_ = true;
                changed_.notify_all();
                return;
            }
        }
    }

    void copyData(FileTask& task)
    {
        const off_t size = task.st.st_size;
        if (size == 0)
            return;
        // A reflink shares the blocks: constant time, holes and all. Once the
        // filesystem has said no, do not ask again for every file.
        if (reflinks_.load()) {
            if (ioctl(task.target.get(), FICLONE, task.source.get()) == 0) {
                bytesDone_ += std::uint64_t(size);
                return;
            }
            if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EXDEV || errno == EINVAL)
                reflinks_ = false;
        }
        off_t offset = 0;
        while (offset < size) {
            if (options_.canceled && options_.canceled())
                throw CopyStopped{};
            off_t dataStart = lseek(task.source.get(), offset, SEEK_DATA);
            if (dataStart < 0 && errno == ENXIO)
                break; // only a hole is left
            if (dataStart < 0)
                dataStart = offset;
            off_t dataEnd = lseek(task.source.get(), dataStart, SEEK_HOLE);
            if (dataEnd < 0)
                dataEnd = size;
            offset = dataStart;
            while (offset < dataEnd) {
                std::size_t length = std::min<std::size_t>(copyChunk, std::size_t(dataEnd - offset));
                loff_t in = offset, out = offset;
                ssize_t copied = copy_file_range(task.source.get(), &in, task.target.get(), &out, length, 0);
                if (copied < 0 && (errno == EXDEV || errno == EINVAL || errno == ENOSYS || errno == EOPNOTSUPP))
                    copied = copyByReadWrite(task, offset, length);
                if (copied < 0)
                    fail("cannot copy", task.path);
                if (copied == 0)
                    break; // the file shrank under us
                offset += copied;
                bytesDone_ += std::uint64_t(copied);
                report(false);
                if (options_.canceled && options_.canceled())
                    throw CopyStopped{};
            }
        }
        // Keep a trailing hole: the size, not the data, ends the file.
        if (offset < size && ftruncate(task.target.get(), size) < 0)
            fail("cannot size", task.path);
    }

    ssize_t copyByReadWrite(FileTask& task, off_t offset, std::size_t length)
    {
        std::vector<char> buffer(std::min<std::size_t>(length, 1 << 20));
        ssize_t n = pread(task.source.get(), buffer.data(), buffer.size(), offset);
        if (n <= 0)
            return n;
        for (ssize_t written = 0; written < n;) {
            ssize_t w = pwrite(task.target.get(), buffer.data() + written, std::size_t(n - written), offset + written);
            if (w < 0)
                return -1;
            written += w;
        }
        return n;
    }

    void report(bool final)
    {
        if (!options_.progress)
            return;
        // Every chunk of every file would wake the bus thread thousands of times a clone.
        auto now = std::chrono::steady_clock::now();
        auto last = lastReport_.load();
        if (!final && (now - last < reportInterval || !lastReport_.compare_exchange_strong(last, now)))
            return;
        CopyProgress current = progress_;
        current.bytesDone = final ? current.bytesTotal : bytesDone_.load();
        current.entriesDone = final ? current.entriesTotal : entriesDone_.load();
        options_.progress(current);
    }

public:
    int targetRootFd_ = -1;

private:
    const CopyOptions& options_;
    CopyProgress progress_;
    std::atomic<std::uint64_t> bytesDone_{0}, entriesDone_{0};
    std::atomic<bool> reflinks_{true};
    std::atomic<std::chrono::steady_clock::time_point> lastReport_{};
    std::map<std::pair<dev_t, ino_t>, std::string> hardlinks_;
    std::set<std::pair<dev_t, ino_t>> countedInodes_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<FileTask> queue_;
    bool done_ = false, stopping_ = false;
    std::exception_ptr workerError_;
    std::vector<std::thread> workers_;
};

} // namespace

void copyTree(int sourceFd, int targetFd, const CopyOptions& options)
{
    Copier copier(options);
    copier.targetRootFd_ = targetFd;
    copier.run(sourceFd, targetFd);
}

} // namespace bred
