#include "exporter.h"

#include "disk-usage.h"
#include "errors.h"
#include "job.h"
#include "os-tree.h"
#include "refusals.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <syslog.h>

namespace bred {

void Exporter::exportMachine(ExportRequest& request, JobContext& job) const
{
    // Closed however the job ends, so that a reader of a pipe sees its end at once.
    const UniqueFd archiveFd = std::move(request.archiveFd);
    UniqueFd treeFd(
        openat(store_.directoryFd(), request.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!treeFd || !readOsRelease(treeFd.get()))
        throw refusal::noSuchMachine(request.name);

    job.setStage("measure");
    // The tree's allocated bytes: close to the file data the archive takes in.
    const std::uint64_t total =
        treeDiskUsage(store_.directory() / request.name, [&job] { return job.cancelRequested(); }).value_or(0);
    job.throwIfCanceled();

    job.setStage("export");
    PackOptions options;
    options.cancelFd = job.cancelFd();
    options.progress = [&job, total](std::uint64_t packed) {
        job.setBytes(packed, total);
        job.setProgress(total ? std::min(0.99, double(packed) / double(total)) : -1.0);
    };
    options.log = [&job](const std::string& line) { job.log(LOG_WARNING, line); };
    packTree(treeFd.get(), archiveFd.get(), request.compression, options);
    job.setProgress(1.0);
    job.log(LOG_INFO, fmt::format("'{}' is exported.", request.name));
}

} // namespace bred
