#include "cloner.h"

#include "errors.h"
#include "in-root.h"
#include "job.h"
#include "os-tree.h"
#include "refusals.h"
#include "temporary-tree.h"
#include "tree-copier.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <filesystem>
#include <fmt/format.h>
#include <linux/btrfs.h>
#include <linux/btrfs_tree.h>
#include <linux/magic.h>
#include <optional>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <unistd.h>

namespace bred {
namespace {

bool isBtrfsSubvolume(int fd)
{
    struct statfs fs { };
    struct stat st { };
    return fstatfs(fd, &fs) == 0 && fs.f_type == BTRFS_SUPER_MAGIC && fstat(fd, &st) == 0 &&
           st.st_ino == BTRFS_FIRST_FREE_OBJECTID;
}

} // namespace

void Cloner::clone(const CloneRequest& request, JobContext& job) const
{
    const int machinesFd = store_.directoryFd();
    UniqueFd sourceFd(openat(machinesFd, request.source.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!sourceFd || !readOsRelease(sourceFd.get()))
        throw refusal::noSuchMachine(request.source);

    job.setStage("copy");
    bool snapshot = false;
    TemporaryTree work(machinesFd, "clone-" + request.name, [&](int parentFd, const std::string& name) {
        if (isBtrfsSubvolume(sourceFd.get())) {
            btrfs_ioctl_vol_args_v2 args{};
            args.fd = sourceFd.get();
            std::strncpy(args.name, name.c_str(), sizeof args.name - 1);
            snapshot = ioctl(parentFd, BTRFS_IOC_SNAP_CREATE_V2, &args) == 0;
        }
        // On btrfs a plain-directory source still gets a subvolume, so its own clones are snapshots.
        if (!snapshot)
            makeTreeDirectory(parentFd, name);
    });
    if (snapshot) {
        job.log(LOG_INFO, "Cloned as a btrfs snapshot.");
    } else {
        UniqueFd targetFd(openat(machinesFd, work.name().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        CopyOptions options;
        options.canceled = [&job] { return job.cancelRequested(); };
        options.progress = [&job](const CopyProgress& progress) {
            if (!progress.totalsKnown) {
                job.setProgress(-1);
                return;
            }
            job.setBytes(progress.bytesDone, progress.bytesTotal);
            double bytes = progress.bytesTotal ? double(progress.bytesDone) / double(progress.bytesTotal) : 1.0;
            double entries = progress.entriesTotal ? double(progress.entriesDone) / double(progress.entriesTotal) : 1.0;
            job.setProgress(std::min(bytes, entries));
        };
        options.log = [&job](const std::string& line) { job.log(LOG_WARNING, line); };
        copyTree(sourceFd.get(), targetFd.get(), options);
    }

    job.setStage("finalize");
    UniqueFd treeFd(openat(machinesFd, work.name().c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    // A template's copy or snapshot comes out read-only like its source; a clone is writable.
    setTreeReadOnly(treeFd.get(), false);
    forgetTreeVerification(treeFd.get());
    // A new machine, not a twin: its own machine-id on first boot, its own name.
    if (UniqueFd etc = openInRoot(treeFd.get(), "etc", O_RDONLY | O_DIRECTORY)) {
        replaceFileInRoot(treeFd.get(), "etc/machine-id", "");
        replaceFileInRoot(treeFd.get(), "etc/hostname", request.name + "\n");
    }
    job.enterPointOfNoReturn();
    std::optional<PendingTemplate> pending;
    if (request.asTemplate)
        pending.emplace(store_, request.name, treeFd.get());
    if (!work.renameInto(request.name)) {
        if (errno == EEXIST)
            throw refusal::machineExists(request.name);
        throw Error(ErrorCode::Failed, fmt::format("cannot install '{}': {}", request.name, std::strerror(errno)));
    }
    if (request.copySettings) {
        std::error_code error;
        if (std::filesystem::exists(store_.settingsFile(request.source), error) &&
            !std::filesystem::copy_file(store_.settingsFile(request.source), store_.settingsFile(request.name), error))
            job.log(LOG_WARNING, fmt::format("The settings were not copied: {}", error.message()));
    }
    if (request.asTemplate)
        setTreeReadOnly(treeFd.get(), true);
    else // A new name: systemd reads the drop-in when machinectl first asks for its unit, no reload needed.
        store_.editSettings(request.name, [](NspawnSettingsEditor&) {});
    job.setProgress(1.0);
    job.log(LOG_INFO, fmt::format("'{}' is ready, cloned from '{}'.", request.name, request.source));
}

} // namespace bred
