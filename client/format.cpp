#include "format.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fmt/format.h>

namespace bred::client {

std::string formatBytes(std::uint64_t bytes)
{
    static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double value = static_cast<double>(bytes);
    std::size_t unit = 0;
    while (value >= 1024 && unit + 1 < std::size(units)) {
        value /= 1024;
        ++unit;
    }
    char text[32];
    if (unit == 0)
        std::snprintf(text, sizeof text, "%llu B", static_cast<unsigned long long>(bytes));
    else
        std::snprintf(text, sizeof text, "%.1f %s", value, units[unit]);
    return text;
}

namespace {

// Columns a cell takes on a terminal: colour escapes take none.
std::size_t visibleWidth(const std::string& text)
{
    std::size_t width = 0;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\033') {
            while (i < text.size() && text[i] != 'm')
                ++i;
            continue;
        }
        if ((text[i] & 0xC0) != 0x80)
            ++width;
    }
    return width;
}

} // namespace

std::string formatDuration(std::uint64_t seconds)
{
    char text[32];
    if (seconds < 60)
        std::snprintf(text, sizeof text, "%llus", static_cast<unsigned long long>(seconds));
    else if (seconds < 3600)
        std::snprintf(text, sizeof text, "%llumin %02llus", static_cast<unsigned long long>(seconds / 60),
                      static_cast<unsigned long long>(seconds % 60));
    else
        std::snprintf(text, sizeof text, "%lluh %02llumin", static_cast<unsigned long long>(seconds / 3600),
                      static_cast<unsigned long long>(seconds / 60 % 60));
    return text;
}

std::string formatTable(const std::vector<std::vector<std::string>>& rows)
{
    std::vector<std::size_t> widths;
    for (const auto& row : rows)
        for (std::size_t i = 0; i < row.size(); ++i) {
            if (widths.size() <= i)
                widths.push_back(0);
            widths[i] = std::max(widths[i], visibleWidth(row[i]));
        }
    std::string out;
    for (const auto& row : rows) {
        std::string line;
        for (std::size_t i = 0; i < row.size(); ++i) {
            line += row[i];
            if (i + 1 < row.size())
                line += std::string(widths[i] - visibleWidth(row[i]) + 2, ' ');
        }
        out += line + "\n";
    }
    return out;
}

std::string formatProgressLine(const ProgressState& state, std::size_t width)
{
    std::string details;
    if (state.step)
        details += fmt::format("{}/{} {}: ", state.step->number, state.step->count, state.step->name);
    if (state.progress >= 0) {
        char percent[8];
        std::snprintf(percent, sizeof percent, "%3d%%", static_cast<int>(std::lround(state.progress * 100)));
        details += percent;
    } else {
        details += "  ?%";
    }
    if (!state.stage.empty())
        details += " " + state.stage;
    if (state.bytesDone > 0 || state.bytesTotal > 0) {
        details += " " + formatBytes(state.bytesDone);
        if (state.bytesTotal > 0)
            details += "/" + formatBytes(state.bytesTotal);
    }
    if (state.bytesPerSecond > 0) {
        details += " " + formatBytes(static_cast<std::uint64_t>(state.bytesPerSecond)) + "/s";
        if (state.bytesTotal > state.bytesDone)
            details += ", " +
                       formatDuration(static_cast<std::uint64_t>(
                           std::llround(double(state.bytesTotal - state.bytesDone) / state.bytesPerSecond))) +
                       " left";
    }

    // The bar takes what the details leave, between 10 and 40 columns; none if too narrow.
    std::size_t room = width > details.size() + 3 ? width - details.size() - 3 : 0;
    std::size_t barWidth = std::min<std::size_t>(room, 40);
    if (barWidth < 10)
        return details.substr(0, width);
    double whole = state.progress >= 0 ? state.progress : 0;
    if (state.step)
        whole = (double(state.step->number - 1) + whole) / double(state.step->count);
    std::size_t filled = static_cast<std::size_t>(std::lround(whole * double(barWidth)));
    return "[" + std::string(filled, '#') + std::string(barWidth - filled, '.') + "] " + details;
}

std::string formatVerification(const std::string& method, const std::string& key)
{
    if (method == "signature")
        return key.empty() ? "signature" : "signature, key " + key;
    if (method == "checksum")
        return "checksum only (no signature checked)";
    if (method == "none")
        return "none (not verified)";
    return method;
}

} // namespace bred::client
