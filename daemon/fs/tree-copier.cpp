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
#include <memory>
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

} // namespace

std::string procPath(int dirFd, const std::string& name)
{
    return "/proc/self/fd/" + std::to_string(dirFd) + "/" + name;
}

std::vector<std::pair<std::string, std::string>> readXattrs(int fd, const std::string& path,
                                                            const std::string& displayPath)
{
    std::vector<std::pair<std::string, std::string>> attributes;
    std::vector<char> names(4096);
    ssize_t length;
    for (;;) {
        length =
            fd >= 0 ? flistxattr(fd, names.data(), names.size()) : llistxattr(path.c_str(), names.data(), names.size());
        if (length >= 0)
            break;
        if (errno == ERANGE) {
            names.resize(names.size() * 4);
            continue;
        }
        if (errno == ENOTSUP || errno == EOPNOTSUPP)
            return attributes;
        fail("cannot list the extended attributes of", displayPath);
    }
    std::vector<char> value(4096);
    for (ssize_t offset = 0; offset < length; offset += ssize_t(std::strlen(names.data() + offset)) + 1) {
        const char* name = names.data() + offset;
        ssize_t size;
        for (;;) {
            size = fd >= 0 ? fgetxattr(fd, name, value.data(), value.size())
                           : lgetxattr(path.c_str(), name, value.data(), value.size());
            if (size >= 0 || errno != ERANGE)
                break;
            value.resize(value.size() * 4);
        }
        if (size < 0)
            fail(fmt::format("cannot read attribute {} of", name), displayPath);
        attributes.emplace_back(name, std::string(value.data(), std::size_t(size)));
    }
    return attributes;
}

UniqueFd openSubdirectory(int parentFd, const std::string& name)
{
    open_how how{};
    how.flags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_XDEV | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
    return UniqueFd(static_cast<int>(syscall(SYS_openat2, parentFd, name.c_str(), &how, sizeof how)));
}

namespace {

// Copies every xattr (file capabilities, POSIX ACLs, SELinux labels, user.*).
// `fd` >= 0 uses the f* calls, else the l* calls on `path`.
void copyXattrs(int sourceFd, const std::string& sourcePath, int targetFd, const std::string& targetPath,
                const std::string& displayPath)
{
    for (const auto& [name, value] : readXattrs(sourceFd, sourcePath, displayPath)) {
        int set = targetFd >= 0 ? fsetxattr(targetFd, name.c_str(), value.data(), value.size(), 0)
                                : lsetxattr(targetPath.c_str(), name.c_str(), value.data(), value.size(), 0);
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

struct FileTask {
    UniqueFd source, target;
    struct stat st;
    std::string path;
};

// A directory being copied. Its descriptors stay open from its listing until
// its last subdirectory is done, when its own metadata (times above all, which
// every entry created inside changes) is set.
struct Directory {
    std::shared_ptr<Directory> parent;
    std::string name, path;
    struct stat st;
    UniqueFd source, target;
    std::atomic<unsigned> pending{1}; // its own listing, plus each subdirectory not yet done
};

// Several threads share the walk: each takes a directory or a file's data from
// shared queues, so creating entries (the whole cost on a filesystem with
// reflinks) runs on every core. Directories are taken last-in first-out, which
// keeps open only the ancestors of the directories being worked on.
class Copier {
public:
    Copier(const CopyOptions& options, int targetRootFd) : options_(options), targetRootFd_(targetRootFd) { }

    void run(int sourceFd, int targetFd)
    {
        auto root = std::make_shared<Directory>();
        root->source = UniqueFd(fcntl(sourceFd, F_DUPFD_CLOEXEC, 3));
        root->target = UniqueFd(fcntl(targetFd, F_DUPFD_CLOEXEC, 3));
        if (!root->source || !root->target)
            fail("cannot open", "/");
        directories_.push_back(root);
        // Counting runs beside the copy, so the totals cost no time of their
        // own; until it is done the progress is unknown.
        std::thread counter([this, sourceFd] { countAll(sourceFd); });
        std::vector<std::thread> workers;
        const unsigned cpus = std::max(1u, std::thread::hardware_concurrency());
        for (unsigned i = 0; i < std::max(1u, options_.threads); ++i)
            workers.emplace_back([this, i, cpus] { work(i < cpus); });
        for (auto& worker : workers)
            worker.join();
        // After a failure the counter has been told to stop; after success it finishes the totals.
        counter.join();
        if (error_)
            std::rethrow_exception(error_);
        // The top directory's own metadata comes last, once everything inside is in.
        struct stat st { };
        fstat(sourceFd, &st);
        copyMetadataByFd(sourceFd, targetFd, st, "/");
        report(true);
    }

    void runOnFile(FileTask& task)
    {
        {
            std::lock_guard lock(mutex_);
            totals_ = CopyProgress{0, std::uint64_t(task.st.st_size), 0, 1, true};
            totalsKnown_ = true;
        }
        copyFile(task);
        report(true);
    }

private:
    void countAll(int sourceFd)
    {
        std::set<std::pair<dev_t, ino_t>> countedInodes;
        CopyProgress totals;
        try {
            count(sourceFd, totals, countedInodes);
        } catch (...) {
            return; // stopped, or unreadable: the copy itself reports what it cannot read
        }
        std::lock_guard lock(mutex_);
        totals_ = totals;
        totalsKnown_ = true;
    }

    void count(int dirFd, CopyProgress& totals, std::set<std::pair<dev_t, ino_t>>& countedInodes)
    {
        for (const auto& entry : listDirectory(dirFd)) {
            struct stat st { };
            if (fstatat(dirFd, entry.name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
                continue;
            ++totals.entriesTotal;
            bool firstLink = st.st_nlink < 2 || countedInodes.insert({st.st_dev, st.st_ino}).second;
            if (S_ISREG(st.st_mode) && firstLink)
                totals.bytesTotal += std::uint64_t(st.st_size);
            if (entry.isDirectory) {
                if (stopping())
                    throw JobCanceled{};
                if (UniqueFd child = openSubdirectory(dirFd, entry.name))
                    count(child.get(), totals, countedInodes);
            }
        }
    }

    bool stopping()
    {
        std::lock_guard lock(mutex_);
        return stopping_;
    }

    void checkStop()
    {
        if (options_.canceled && options_.canceled())
            throw JobCanceled{};
        if (stopping())
            throw JobCanceled{};
    }

    // With reflinks nothing waits on the disk, and threads beyond the CPUs only
    // contend for the filesystem's locks: those leave once reflinks work.
    void work(bool onCpuBudget)
    {
        auto surplus = [this, onCpuBudget] { return !onCpuBudget && reflinks_ == Reflinks::Work; };
        for (;;) {
            std::shared_ptr<Directory> directory;
            FileTask file;
            {
                std::unique_lock lock(mutex_);
                changed_.wait(lock, [&] {
                    return stopping_ || !files_.empty() || !directories_.empty() || busy_ == 0 || surplus();
                });
                if (stopping_ || (files_.empty() && directories_.empty()) || surplus())
                    return; // stopped, nothing queued and nobody left to queue more, or not needed
                // Files first: each holds two descriptors until copied.
                if (!files_.empty()) {
                    file = std::move(files_.front());
                    files_.pop_front();
                } else {
                    directory = std::move(directories_.back());
                    directories_.pop_back();
                }
                ++busy_;
            }
            try {
                if (directory)
                    copyDirectory(directory);
                else
                    copyFile(file);
            } catch (...) {
                std::lock_guard lock(mutex_);
                // The first failure is the one to report; the others are the stop it caused.
                if (!error_)
                    error_ = std::current_exception();
                stopping_ = true;
                --busy_;
                changed_.notify_all();
                return;
            }
            std::lock_guard lock(mutex_);
            --busy_;
            changed_.notify_all();
        }
    }

    void copyFile(FileTask& task)
    {
        copyData(task);
        copyMetadataByFd(task.source.get(), task.target.get(), task.st, task.path);
    }

    void queueFile(FileTask task)
    {
        {
            std::lock_guard lock(mutex_);
            if (files_.size() < maxQueuedFiles) {
                files_.push_back(std::move(task));
                changed_.notify_one();
                return;
            }
        }
        // Queue full: this thread copies it itself rather than wait.
        copyFile(task);
    }

    void queueDirectory(std::shared_ptr<Directory> directory)
    {
        std::lock_guard lock(mutex_);
        directories_.push_back(std::move(directory));
        changed_.notify_one();
    }

    void copyDirectory(const std::shared_ptr<Directory>& directory)
    {
        if (directory->parent) {
            directory->source = openSubdirectory(directory->parent->source.get(), directory->name);
            directory->target = openSubdirectory(directory->parent->target.get(), directory->name);
            if (!directory->source && errno == EXDEV) {
                // Another filesystem is mounted here: keep the mount point, not what is mounted.
                if (options_.log)
                    options_.log(fmt::format("Not copying {}: another filesystem is mounted there.", directory->path));
                directory->source = UniqueFd(openat(directory->parent->source.get(), directory->name.c_str(),
                                                    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
                finishListing(directory);
                return;
            }
            if (!directory->source || !directory->target)
                fail("cannot open", directory->path);
        }
        for (const auto& entry : listDirectory(directory->source.get())) {
            checkStop();
            copyEntry(directory, entry.name);
            entriesDone_++;
            report(false);
        }
        finishListing(directory);
    }

    void copyEntry(const std::shared_ptr<Directory>& directory, const std::string& name)
    {
        const int sourceDirFd = directory->source.get(), targetDirFd = directory->target.get();
        std::string childPath = directory->path + "/" + name;
        struct stat st { };
        if (fstatat(sourceDirFd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
            fail("cannot read", childPath);
        if (S_ISDIR(st.st_mode)) {
            if (mkdirat(targetDirFd, name.c_str(), 0700) < 0)
                fail("cannot create", childPath);
            auto child = std::make_shared<Directory>();
            child->parent = directory;
            child->name = name;
            child->path = childPath;
            child->st = st;
            directory->pending++;
            queueDirectory(std::move(child));
            return;
        }
        if ((S_ISBLK(st.st_mode) || S_ISCHR(st.st_mode)) && options_.skipDeviceNodes) {
            if (options_.log)
                options_.log(fmt::format("Not copying {}: a device node.", childPath));
            return;
        }
        // Every link of a file but the first is a hard link to what the first
        // made; the lock makes "first" hold across threads.
        std::unique_lock<std::mutex> linkLock;
        if (st.st_nlink > 1) {
            linkLock = std::unique_lock(hardlinksMutex_);
            auto [known, inserted] = hardlinks_.try_emplace({st.st_dev, st.st_ino}, childPath.substr(1));
            if (!inserted) {
                if (linkat(targetRootFd_, known->second.c_str(), targetDirFd, name.c_str(), 0) < 0)
                    fail("cannot link", childPath);
                return;
            }
        }
        if (S_ISREG(st.st_mode)) {
            // O_NOATIME: cloning leaves the source as it was, access times included.
            // O_NONBLOCK and the inode check: a running container may have put
            // a FIFO or device node in its place since the fstatat.
            UniqueFd source(openat(sourceDirFd, name.c_str(),
                                   O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY | O_NOATIME));
            struct stat opened { };
            if (!source || fstat(source.get(), &opened) < 0)
                fail("cannot open", childPath);
            if (opened.st_dev != st.st_dev || opened.st_ino != st.st_ino)
                throw Error(ErrorCode::Failed, fmt::format("cannot copy {}: it was replaced while being copied; "
                                                           "stop the machine and try again.",
                                                           childPath));
            UniqueFd target(
                openat(targetDirFd, name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
            if (!target)
                fail("cannot create", childPath);
            if (linkLock)
                linkLock.unlock();
            queueFile(FileTask{std::move(source), std::move(target), st, childPath});
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
    }

    // Called once a directory's entries are all created, and again as each of
    // its subdirectories is done: the last call sets its metadata and closes it.
    void finishListing(std::shared_ptr<Directory> directory)
    {
        while (directory && --directory->pending == 0) {
            if (directory->parent)
                copyMetadataByFd(directory->source.get(), directory->target.get(), directory->st, directory->path);
            directory->source.reset();
            directory->target.reset();
            directory = directory->parent;
        }
    }

    void copyData(FileTask& task)
    {
        const off_t size = task.st.st_size;
        if (size == 0)
            return;
        // A reflink shares the blocks: constant time, holes and all. Once the
        // filesystem has said no, do not ask again for every file.
        if (reflinks_ != Reflinks::Refused) {
            if (ioctl(task.target.get(), FICLONE, task.source.get()) == 0) {
                reflinks_ = Reflinks::Work;
                bytesDone_ += std::uint64_t(size);
                return;
            }
            if (errno == EOPNOTSUPP || errno == ENOTTY || errno == EXDEV || errno == EINVAL)
                reflinks_ = Reflinks::Refused;
        }
        off_t offset = 0;
        while (offset < size) {
            checkStop();
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
                checkStop();
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
        CopyProgress current;
        {
            std::lock_guard lock(mutex_);
            current = totals_;
            current.totalsKnown = totalsKnown_;
        }
        current.bytesDone = final ? current.bytesTotal : bytesDone_.load();
        current.entriesDone = final ? current.entriesTotal : entriesDone_.load();
        options_.progress(current);
    }

    const CopyOptions& options_;
    const int targetRootFd_;
    std::atomic<std::uint64_t> bytesDone_{0}, entriesDone_{0};
    enum class Reflinks { Untried, Work, Refused };
    std::atomic<Reflinks> reflinks_{Reflinks::Untried};
    std::atomic<std::chrono::steady_clock::time_point> lastReport_{};
    std::mutex hardlinksMutex_;
    std::map<std::pair<dev_t, ino_t>, std::string> hardlinks_;
    std::mutex mutex_;
    std::condition_variable changed_;
    std::deque<FileTask> files_;
    std::vector<std::shared_ptr<Directory>> directories_;
    unsigned busy_ = 0;
    bool stopping_ = false;
    CopyProgress totals_;
    bool totalsKnown_ = false;
    std::exception_ptr error_;
};

} // namespace

void copyTree(int sourceFd, int targetFd, const CopyOptions& options)
{
    Copier copier(options, targetFd);
    copier.run(sourceFd, targetFd);
}

void copyFile(int sourceFd, int targetFd, const std::string& displayPath, const CopyOptions& options)
{
    FileTask task{
        UniqueFd(fcntl(sourceFd, F_DUPFD_CLOEXEC, 3)), UniqueFd(fcntl(targetFd, F_DUPFD_CLOEXEC, 3)), {}, displayPath};
    if (!task.source || !task.target || fstat(sourceFd, &task.st) < 0)
        fail("cannot open", displayPath);
    if (!S_ISREG(task.st.st_mode))
        throw Error(ErrorCode::NotSupported, fmt::format("{} is not a regular file.", displayPath));
    Copier copier(options, -1);
    copier.runOnFile(task);
}

} // namespace bred
