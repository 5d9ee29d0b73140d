#include "http-download.h"

#include "build-config.h"
#include "errors.h"

#include <curl/curl.h>
#include <fmt/format.h>
#include <memory>
#include <thread>

namespace bred {
namespace {

struct Transfer {
    const DownloadCallbacks* callbacks;
    std::uint64_t maxBytes;
    CURL* handle = nullptr;
    std::uint64_t received = 0;     // bytes handed to the sink, over all attempts
    std::uint64_t resumeOffset = 0; // where this attempt asked to start
    bool firstChunk = true;         // of this attempt's response
    std::uint64_t skip = 0;         // bytes of this response already handed on (server ignored Range)
    std::uint64_t total = 0;        // from Content-Length; 0 when unknown
    bool tooLarge = false;
    bool stopped = false;
};

std::size_t onData(char* data, std::size_t size, std::size_t count, void* userData)
{
    auto* transfer = static_cast<Transfer*>(userData);
    std::size_t length = size * count;
    if (transfer->firstChunk) {
        transfer->firstChunk = false;
        long status = 0;
        curl_off_t contentLength = -1;
        curl_easy_getinfo(transfer->handle, CURLINFO_RESPONSE_CODE, &status);
        curl_easy_getinfo(transfer->handle, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &contentLength);
        bool partial = status == 206;
        // A server that ignores Range resends from the start: skip what we have.
        transfer->skip = partial ? 0 : transfer->resumeOffset;
        if (contentLength >= 0)
            transfer->total = std::uint64_t(contentLength) + (partial ? transfer->resumeOffset : 0);
        if (transfer->total > transfer->maxBytes) {
            transfer->tooLarge = true;
            return 0;
        }
        if (transfer->total && transfer->callbacks->announced)
            transfer->callbacks->announced(transfer->total);
    }
    std::size_t offset = 0;
    if (transfer->skip > 0) {
        offset = static_cast<std::size_t>(std::min<std::uint64_t>(transfer->skip, length));
        transfer->skip -= offset;
    }
    if (offset == length)
        return length;
    if (transfer->received + (length - offset) > transfer->maxBytes) {
        transfer->tooLarge = true;
        return 0;
    }
    if (!transfer->callbacks->sink(data + offset, length - offset)) {
        transfer->stopped = true;
        return 0;
    }
    transfer->received += length - offset;
    return length;
}

bool isTransient(CURLcode code, long status)
{
    switch (code) {
    case CURLE_PARTIAL_FILE:
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_COULDNT_CONNECT:
        return true;
    case CURLE_HTTP_RETURNED_ERROR:
        return status >= 500 || status == 408 || status == 429;
    default:
        return false;
    }
}

} // namespace

void download(const DownloadRequest& request, const DownloadCallbacks& callbacks)
{
    const std::string& url = request.url;
    const DownloadLimits& limits = request.limits;
    if (!isHttpUrl(url))
        throw Error(ErrorCode::DownloadFailed,
                    fmt::format("Only http:// and https:// URLs can be downloaded, not '{}'.", url));
    curl_global_init(CURL_GLOBAL_DEFAULT);
    std::unique_ptr<CURL, decltype(&curl_easy_cleanup)> curl(curl_easy_init(), curl_easy_cleanup);
    if (!curl)
        throw Error(ErrorCode::DownloadFailed, "cannot set up libcurl");
    Transfer transfer{&callbacks, limits.maxBytes};
    transfer.handle = curl.get();
    char errorBuffer[CURL_ERROR_SIZE] = "";
    CURL* handle = curl.get();
    curl_easy_setopt(handle, CURLOPT_URL, url.c_str());
    curl_easy_setopt(handle, CURLOPT_PROTOCOLS_STR, "http,https");
    // What came over https is never handed on from plain http.
    const bool secure = url.starts_with("https://");
    curl_easy_setopt(handle, CURLOPT_REDIR_PROTOCOLS_STR, secure ? "https" : "http,https");
    curl_easy_setopt(handle, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(handle, CURLOPT_MAXREDIRS, 10L);
    curl_easy_setopt(handle, CURLOPT_FAILONERROR, 1L);
    curl_easy_setopt(handle, CURLOPT_CONNECTTIMEOUT, static_cast<long>(limits.connectTimeout.count()));
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_LIMIT, limits.lowSpeedBytesPerSecond);
    curl_easy_setopt(handle, CURLOPT_LOW_SPEED_TIME, static_cast<long>(limits.lowSpeedTime.count()));
    curl_easy_setopt(handle, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(limits.maxBytes));
    curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, onData);
    curl_easy_setopt(handle, CURLOPT_WRITEDATA, &transfer);
    curl_easy_setopt(handle, CURLOPT_ERRORBUFFER, errorBuffer);
    curl_easy_setopt(handle, CURLOPT_USERAGENT, "bred-machined/" BRED_VERSION);
    curl_easy_setopt(handle, CURLOPT_NOSIGNAL, 1L);

    for (unsigned attempt = 0;; ++attempt) {
        errorBuffer[0] = '\0';
        transfer.resumeOffset = transfer.received;
        transfer.firstChunk = true;
        curl_easy_setopt(handle, CURLOPT_RESUME_FROM_LARGE, static_cast<curl_off_t>(transfer.received));
        CURLcode code = curl_easy_perform(handle);
        long status = 0;
        curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &status);
        if (code == CURLE_OK) {
            if (transfer.total && transfer.received != transfer.total)
                throw Error(ErrorCode::DownloadFailed,
                            fmt::format("Downloading {} ended after {} of the {} bytes the server announced.", url,
                                        transfer.received, transfer.total));
            return;
        }
        if (transfer.stopped)
            throw Error(ErrorCode::Failed, "the daemon stopped reading the download");
        if (transfer.tooLarge || code == CURLE_FILESIZE_EXCEEDED)
            throw Error(ErrorCode::DownloadFailed,
                        fmt::format("{} is larger than the limit of {} bytes (max_download_bytes in the "
                                    "daemon's configuration).",
                                    url, limits.maxBytes));
        if (code == CURLE_UNSUPPORTED_PROTOCOL) {
            const char* target = nullptr;
            curl_easy_getinfo(handle, CURLINFO_EFFECTIVE_URL, &target);
            if (target && url != target)
                throw Error(ErrorCode::DownloadFailed,
                            fmt::format("The server redirected {} to {}; only redirects to {} are followed.", url,
                                        target, secure ? "https://" : "http:// and https://"));
        }
        std::string reason = errorBuffer[0] ? errorBuffer : curl_easy_strerror(code);
        // curl says "Operation too slow" in its own units; say which setting decides.
        if (code == CURLE_OPERATION_TIMEDOUT && status != 0)
            reason = fmt::format("the server sent less than {} bytes a second for {} s (low_speed_timeout_seconds "
                                 "in the daemon's configuration)",
                                 limits.lowSpeedBytesPerSecond, limits.lowSpeedTime.count());
        if (!isTransient(code, status) || attempt >= limits.retries)
            throw Error(ErrorCode::DownloadFailed,
                        fmt::format("Downloading {} failed: {}{}", url, reason,
                                    attempt ? fmt::format(" (after {} retries)", attempt) : ""));
        if (callbacks.log)
            callbacks.log(fmt::format("Download interrupted ({}); resuming at byte {}.", reason, transfer.received));
        // Back off before retrying; a cancel ends this process.
        std::this_thread::sleep_for(std::chrono::seconds(1 << std::min(attempt, 4u)));
    }
}

} // namespace bred
