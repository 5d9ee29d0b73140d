// Downloads over http(s) with libcurl: only http/https (redirects too),
// timeouts for connecting and for a stalled transfer, a size cap, and
// resuming after transient failures. Data is handed on as it arrives.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace bred {

struct DownloadLimits {
    std::uint64_t maxBytes = 16ull << 30;
    std::chrono::seconds connectTimeout{30};
    // A transfer slower than lowSpeedBytesPerSecond for this long is stalled.
    std::chrono::seconds lowSpeedTime{60};
    long lowSpeedBytesPerSecond = 1024;
    unsigned retries = 3;
};

struct DownloadCallbacks {
    // Receives the body in order; returns false to stop the download.
    std::function<bool(const char* data, std::size_t size)> sink;
    // Bytes received so far and the total (0 when the server did not say).
    std::function<void(std::uint64_t done, std::uint64_t total)> progress;
    // Polled often; true stops the download.
    std::function<bool()> canceled;
    // A line for the job's log.
    std::function<void(const std::string& line)> log;
};

// Throws Error(DownloadFailed) naming the URL and what went wrong; a stop
// requested by `sink` or `canceled` throws DownloadStopped.
void download(const std::string& url, const DownloadLimits& limits, const DownloadCallbacks& callbacks);

struct DownloadStopped { };

// A small file (checksum list, signature) into memory, at most `maxBytes`.
std::string downloadSmall(const std::string& url, const DownloadLimits& limits, std::size_t maxBytes,
                          const std::function<bool()>& canceled);

// True for an http:// or https:// URL.
bool isHttpUrl(const std::string& url);

} // namespace bred
