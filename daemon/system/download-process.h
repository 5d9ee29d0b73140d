// bred-machined-download run for one URL (download-request.h): the daemon
// reads the body from a pipe, as it comes, and never parses a byte of what
// the server sent but for the small files it asked for by name.
#pragma once

#include "download-request.h"
#include "helper-process.h"
#include "unique-fd.h"

#include <atomic>
#include <cstdint>
#include <functional>
#include <string>

namespace bred {

class DownloadProcess {
public:
    // Starts the helper; `log` gets its notes (retries), on a thread of its own.
    DownloadProcess(const DownloadRequest& request, std::function<void(const std::string&)> log);

    // The read end of the body's pipe, non-blocking: it ends when the helper does.
    int bodyFd() const { return body_.get(); }
    // The whole body's size as the server announced it; 0 until then, or when it did not.
    std::uint64_t announcedSize() const { return announcedSize_.load(); }
    // After the body's end: as HelperProcess::wait, throwing what the download
    // failed of (Error(DownloadFailed) naming the URL and the reason).
    bool wait(int cancelFd) { return helper_.wait(cancelFd); }
    void stop() { helper_.stop(); }

private:
    DownloadProcess(const DownloadRequest& request, std::function<void(const std::string&)> log, HelperPipe pipe);

    UniqueFd body_;
    std::atomic<std::uint64_t> announcedSize_{0};
    HelperProcess helper_;
};

// A small file (a checksum list, a signature) into memory, at most `maxBytes`.
// Throws Error(DownloadFailed), or JobCanceled once `cancelFd` is readable.
std::string downloadSmall(const std::string& url, DownloadLimits limits, std::size_t maxBytes, int cancelFd);

} // namespace bred
