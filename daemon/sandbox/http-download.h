// Downloads over http(s) with libcurl, in bred-machined-download only: only
// http/https (redirects too, never from https to http), timeouts for
// connecting and for a stalled transfer, a size cap, and resuming after
// transient failures. Data is handed on as it arrives.
#pragma once

#include "download-request.h"

#include <cstdint>
#include <functional>
#include <string>

namespace bred {

struct DownloadCallbacks {
    // Receives the body in order; returns false when it cannot take more.
    std::function<bool(const char* data, std::size_t size)> sink;
    // Called once per response that announces its size: the whole body's.
    std::function<void(std::uint64_t total)> announced;
    // A line for the job's log.
    std::function<void(const std::string& line)> log;
};

// Throws Error(DownloadFailed) naming the URL and what went wrong, or
// Error(Failed) when the sink took no more.
void download(const DownloadRequest& request, const DownloadCallbacks& callbacks);

} // namespace bred
