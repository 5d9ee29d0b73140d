#include "download-process.h"

#include "errors.h"
#include "job.h"

#include <cerrno>
#include <cstring>
#include <fmt/format.h>
#include <poll.h>
#include <unistd.h>

namespace bred {
namespace {

HelperProcess startHelper(const DownloadRequest& request, int bodyFd, std::atomic<std::uint64_t>& announcedSize,
                          std::function<void(const std::string&)> log)
{
    return HelperProcess(HelperProcess::besideDaemon("bred-machined-download"), downloadArguments(request),
                         HelperProcess::Stdio{-1, bodyFd},
                         [&announcedSize, log = std::move(log)](const UnpackRecord& record) {
                             if (const auto* line = std::get_if<UnpackLog>(&record))
                                 log(line->line);
                             else if (const auto* progress = std::get_if<UnpackProgress>(&record))
                                 announcedSize = progress->total;
                             else
                                 throw Error(ErrorCode::Failed, "bred-machined-download sent a record of unpacking");
                         });
}

} // namespace

DownloadProcess::DownloadProcess(const DownloadRequest& request, std::function<void(const std::string&)> log) :
    DownloadProcess(request, std::move(log), makeHelperPipe(PipeDirection::FromHelper))
{
}

DownloadProcess::DownloadProcess(const DownloadRequest& request, std::function<void(const std::string&)> log,
                                 HelperPipe pipe) :
    body_(std::move(pipe.daemonEnd)),
    helper_(startHelper(request, pipe.helperEnd.get(), announcedSize_, std::move(log)))
{
    // The helper's end closes here: the body ends when the helper does.
}

std::string downloadSmall(const std::string& url, DownloadLimits limits, std::size_t maxBytes, int cancelFd)
{
    limits.maxBytes = maxBytes;
    DownloadProcess download(DownloadRequest{url, limits}, [](const std::string&) {});
    std::string body;
    char buffer[64 << 10];
    for (;;) {
        pollfd entries[] = {{download.bodyFd(), POLLIN, 0}, {cancelFd, POLLIN, 0}};
        if (poll(entries, 2, -1) < 0 && errno != EINTR)
            throw Error(ErrorCode::Failed, fmt::format("cannot wait for {}: {}", url, std::strerror(errno)));
        if (entries[1].revents != 0)
            throw JobCanceled{};
        ssize_t n = read(download.bodyFd(), buffer, sizeof buffer);
        if (n == 0)
            break;
        if (n < 0 && errno != EAGAIN && errno != EINTR)
            throw Error(ErrorCode::Failed,
                        fmt::format("cannot read the download of {}: {}", url, std::strerror(errno)));
        if (n > 0)
            body.append(buffer, std::size_t(n));
        if (body.size() > maxBytes) // the helper keeps to the limit, unless subverted
            throw Error(ErrorCode::DownloadFailed, fmt::format("{} is larger than {} bytes.", url, maxBytes));
    }
    if (!download.wait(cancelFd))
        throw JobCanceled{};
    return body;
}

} // namespace bred
