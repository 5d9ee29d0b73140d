#include "file-copy.h"

#include "atomic-file.h"
#include "errors.h"
#include "in-root.h"
#include "job.h"
#include "temporary-tree.h"
#include "tree-copier.h"
#include "unique-fd.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

namespace bred {

const char* copyVerb(CopyDirection direction)
{
    return direction == CopyDirection::IntoMachine ? "copy-to" : "copy-from";
}

namespace {

// The host as the caller sees it: the root of PID 1's mount namespace. The
// daemon's own is sandboxed (read-only /usr, /etc and /home, a /tmp of its
// own), and a caller's host path names a file of the host, not of that sandbox.
constexpr const char* hostRoot = "/proc/1/root";

// One side of the copy: the host, or the machine's tree. Paths are resolved
// inside the side's root, so a symlink in a tree never leads out of it.
class CopySide {
public:
    CopySide(int rootFd, std::string machine) : rootFd_(rootFd), machine_(std::move(machine)) { }

    UniqueFd open(const std::string& path, int flags) const { return openInRoot(rootFd_, path, flags); }

    std::string describe(const std::string& path) const
    {
        return machine_.empty() ? fmt::format("'{}' on the host", path)
                                : fmt::format("'{}' in machine '{}'", path, machine_);
    }

    [[noreturn]] void failToOpen(const std::string& path, const char* what) const
    {
        if (errno == ENOENT || errno == ENOTDIR)
            throw Error(ErrorCode::InvalidArgs, fmt::format("There is no {} {}.", what, describe(path)));
        throw Error(ErrorCode::Failed, fmt::format("Cannot open {}: {}", describe(path), std::strerror(errno)));
    }

private:
    int rootFd_;
    std::string machine_; // empty: the host
};

Error existsAlready(const std::string& display)
{
    return Error(ErrorCode::AlreadyExists,
                 fmt::format("{} exists already; replace it with the option 'replace' (--replace).", display));
}

CopyOptions copyOptions(JobContext& job, bool ontoHost)
{
    CopyOptions options;
    options.canceled = [&job] { return job.cancelRequested(); };
    options.progress = [&job](const CopyProgress& progress) {
        if (!progress.totalsKnown)
            return job.setProgress(-1);
        job.setBytes(progress.bytesDone, progress.bytesTotal);
        job.setProgress(progress.bytesTotal ? double(progress.bytesDone) / double(progress.bytesTotal) : 1.0);
    };
    options.log = [&job](const std::string& line) { job.log(LOG_WARNING, line); };
    options.skipDeviceNodes = ontoHost;
    return options;
}

void copyDirectory(int sourceFd, int parentFd, const std::string& name, bool replace, const std::string& display,
                   const CopyOptions& options)
{
    TemporaryTree tree(parentFd, "copy");
    UniqueFd targetFd(openat(parentFd, tree.name().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!targetFd)
        throw Error(ErrorCode::Failed, fmt::format("Cannot create {}: {}", display, std::strerror(errno)));
    copyTree(sourceFd, targetFd.get(), options);
    if (tree.renameInto(name))
        return;
    if (errno == EEXIST && replace && tree.exchangeWith(name))
        return; // the tree now holds what was there, and removes it
    if (errno == EEXIST)
        throw existsAlready(display);
    throw Error(ErrorCode::Failed, fmt::format("Cannot create {}: {}", display, std::strerror(errno)));
}

// The two sides of a request, source first.
struct CopyEnds {
    UniqueFd hostRootFd, rootFd;
    CopySide host, tree;
    const CopySide &from, &to;
    const std::string &sourcePath, &targetPath;
    std::string parentPath, name; // of targetPath

    explicit CopyEnds(const CopyRequest& request) :
        hostRootFd(open(hostRoot, O_PATH | O_DIRECTORY | O_CLOEXEC)),
        rootFd(open(request.directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)),
        host(hostRootFd.get(), {}),
        tree(rootFd.get(), request.machine),
        from(request.direction == CopyDirection::IntoMachine ? host : tree),
        to(request.direction == CopyDirection::IntoMachine ? tree : host),
        sourcePath(request.direction == CopyDirection::IntoMachine ? request.hostPath : request.machinePath),
        targetPath(request.direction == CopyDirection::IntoMachine ? request.machinePath : request.hostPath)
    {
        if (!hostRootFd)
            throw Error(ErrorCode::Failed,
                        fmt::format("Cannot open the host's root directory: {}", std::strerror(errno)));
        if (!rootFd)
            throw Error(ErrorCode::Failed,
                        fmt::format("Cannot open the tree of machine '{}': {}", request.machine, std::strerror(errno)));
        const auto slash = targetPath.rfind('/');
        parentPath = slash == 0 ? "/" : targetPath.substr(0, slash);
        name = targetPath.substr(slash + 1);
    }

    // The destination's directory; throws InvalidArgs when it is missing.
    UniqueFd openParent() const
    {
        UniqueFd parentFd = to.open(parentPath, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (!parentFd)
            to.failToOpen(parentPath, "directory");
        return parentFd;
    }

    // Throws AlreadyExists when the destination exists (a symlink there is not followed).
    void checkAbsent(int parentFd) const
    {
        struct stat existing { };
        if (fstatat(parentFd, name.c_str(), &existing, AT_SYMLINK_NOFOLLOW) == 0)
            throw existsAlready(to.describe(targetPath));
    }
};

} // namespace

void copyStoppedMachineFiles(const CopyRequest& request, JobContext& job)
{
    const CopyEnds ends(request);
    const CopySide &from = ends.from, &to = ends.to;
    job.setStage("copy");
    // O_PATH opens nothing: what it is decides what may be opened.
    UniqueFd source = from.open(ends.sourcePath, O_PATH | O_CLOEXEC);
    struct stat st { };
    if (!source || fstat(source.get(), &st) < 0)
        from.failToOpen(ends.sourcePath, "file or directory");
    if (!S_ISREG(st.st_mode) && !S_ISDIR(st.st_mode))
        throw Error(ErrorCode::NotSupported,
                    fmt::format("{} is {}; only a file or a directory (with whatever it holds) is copied.",
                                from.describe(ends.sourcePath), fileTypeName(st.st_mode)));

    UniqueFd parentFd = ends.openParent();
    if (!request.replace)
        ends.checkAbsent(parentFd.get());
    const std::string display = to.describe(ends.targetPath);
    const CopyOptions options = copyOptions(job, request.direction == CopyDirection::OutOfMachine);
    if (S_ISDIR(st.st_mode)) {
        UniqueFd directory = reopenPathFd(source.get(), O_RDONLY | O_DIRECTORY);
        if (!directory)
            from.failToOpen(ends.sourcePath, "directory");
        copyDirectory(directory.get(), parentFd.get(), ends.name, request.replace, display, options);
    } else {
        // The inode fstat saw, whatever has been put under its name since.
        UniqueFd file = reopenPathFd(source.get(), O_RDONLY | O_NONBLOCK);
        if (!file)
            from.failToOpen(ends.sourcePath, "file");
        installFileAt(
            parentFd.get(), ends.name, [&](int fd) { copyFile(file.get(), fd, display, options); },
            request.replace ? ExistingTarget::Replace : ExistingTarget::Keep, display);
    }
    job.log(LOG_INFO, fmt::format("Copied {} to {}.", from.describe(ends.sourcePath), display));
}

void checkMachinedCopy(const CopyRequest& request)
{
    const CopyEnds ends(request);
    if (request.direction == CopyDirection::IntoMachine) {
        if (!ends.host.open(request.hostPath, O_PATH | O_CLOEXEC))
            ends.host.failToOpen(request.hostPath, "file or directory");
        // A missing directory inside is machined's to find: the running container may have it mounted.
        if (UniqueFd parentFd = ends.tree.open(ends.parentPath, O_PATH | O_DIRECTORY | O_CLOEXEC);
            parentFd && !request.replace)
            ends.checkAbsent(parentFd.get());
        return;
    }
    UniqueFd parentFd = ends.openParent();
    if (!request.replace)
        ends.checkAbsent(parentFd.get());
}

Error machinedCopyError(const CopyRequest& request, const std::string& name, const std::string& message)
{
    const bool into = request.direction == CopyDirection::IntoMachine;
    const std::string what =
        into ? fmt::format("'{}' into '{}' in machine '{}'", request.hostPath, request.machinePath, request.machine)
             : fmt::format("'{}' of machine '{}' to '{}'", request.machinePath, request.machine, request.hostPath);
    if (name == "System.Error.EEXIST")
        return Error(ErrorCode::AlreadyExists,
                     fmt::format("Cannot copy {}: the destination exists already; replace it with the option "
                                 "'replace' (--replace).",
                                 what));
    if (name == "System.Error.ENOENT" || name == "System.Error.ENOTDIR")
        return Error(
            ErrorCode::InvalidArgs,
            fmt::format("Cannot copy {}: {} (the source, or the destination's directory, is missing).", what, message));
    if (name == "org.freedesktop.machine1.NoSuchMachine")
        return Error(ErrorCode::NotRunning,
                     fmt::format("Cannot copy {}: the machine stopped; copy again to copy in its tree.", what));
    if (name == "org.freedesktop.DBus.Error.UnknownMethod" && request.replace)
        return Error(ErrorCode::NotSupported,
                     fmt::format("Cannot copy {}: this systemd-machined cannot replace files (systemd 252 or later "
                                 "can); remove the destination first, or stop the machine.",
                                 what));
    return Error(ErrorCode::Failed, fmt::format("systemd-machined could not copy {}: {}", what, message));
}

} // namespace bred
