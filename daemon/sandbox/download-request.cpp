#include "download-request.h"

#include <charconv>

namespace bred {
namespace {

template <typename Number>
std::optional<Number> parseNumber(std::string_view text)
{
    Number value{};
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size())
        return std::nullopt;
    return value;
}

} // namespace

bool isHttpUrl(std::string_view url) { return url.starts_with("http://") || url.starts_with("https://"); }

std::vector<std::string> downloadArguments(const DownloadRequest& request)
{
    const DownloadLimits& limits = request.limits;
    return {request.url,
            std::to_string(limits.maxBytes),
            std::to_string(limits.connectTimeout.count()),
            std::to_string(limits.lowSpeedTime.count()),
            std::to_string(limits.lowSpeedBytesPerSecond),
            std::to_string(limits.retries)};
}

std::optional<DownloadRequest> parseDownloadArguments(const std::vector<std::string_view>& arguments)
{
    if (arguments.size() != 6 || !isHttpUrl(arguments[0]))
        return std::nullopt;
    auto maxBytes = parseNumber<std::uint64_t>(arguments[1]);
    auto connectTimeout = parseNumber<std::int64_t>(arguments[2]);
    auto lowSpeedTime = parseNumber<std::int64_t>(arguments[3]);
    auto lowSpeedBytesPerSecond = parseNumber<long>(arguments[4]);
    auto retries = parseNumber<unsigned>(arguments[5]);
    if (!maxBytes || !connectTimeout || !lowSpeedTime || !lowSpeedBytesPerSecond || !retries)
        return std::nullopt;
    return DownloadRequest{std::string(arguments[0]),
                           DownloadLimits{*maxBytes, std::chrono::seconds(*connectTimeout),
                                          std::chrono::seconds(*lowSpeedTime), *lowSpeedBytesPerSecond, *retries}};
}

} // namespace bred
