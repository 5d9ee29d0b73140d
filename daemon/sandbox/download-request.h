// What the daemon asks of bred-machined-download: one http(s) URL and the
// limits of fetching it, passed as the helper's arguments.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bred {

struct DownloadLimits {
    std::uint64_t maxBytes = 16ull << 30;
    std::chrono::seconds connectTimeout{30};
    // A transfer slower than lowSpeedBytesPerSecond for this long is stalled.
    std::chrono::seconds lowSpeedTime{60};
    long lowSpeedBytesPerSecond = 1024;
    unsigned retries = 3;
};

struct DownloadRequest {
    std::string url;
    DownloadLimits limits;
};

// True for an http:// or https:// URL.
bool isHttpUrl(std::string_view url);

// The helper's arguments for `request`, and back: nullopt for anything but
// what downloadArguments makes (a URL that is not http(s), a bad number).
std::vector<std::string> downloadArguments(const DownloadRequest& request);
std::optional<DownloadRequest> parseDownloadArguments(const std::vector<std::string_view>& arguments);

} // namespace bred
