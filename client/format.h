// Text formatting for the client's output: tables, sizes, progress lines.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace bred::client {

// "1.5 MiB"
std::string formatBytes(std::uint64_t bytes);

// "45s", "3min 05s", "2h 10min"
std::string formatDuration(std::uint64_t seconds);

// A template's Verification and VerificationKey as status shows them:
// "signature, key 0123...", "checksum only (no signature checked)", "none".
std::string formatVerification(const std::string& method, const std::string& key);

// Left-aligned columns separated by two spaces; the first row is the header.
std::string formatTable(const std::vector<std::vector<std::string>>& rows);

struct ProgressState {
    double progress = -1; // 0..1, or -1 when unknown
    std::string stage;
    std::uint64_t bytesDone = 0;
    std::uint64_t bytesTotal = 0;
    double bytesPerSecond = 0; // over the last few seconds
    // One job of several in a row (create): the bar shows the whole way, the details this step.
    struct Step {
        std::size_t number = 1, count = 1; // 1-based
        std::string name;
    };
    std::optional<Step> step;
};
// One terminal line of at most `width` columns:
// "[####....]  45% download 12.0 MiB/100.0 MiB 3.2 MiB/s, 27s left", or with
// a step "[##......] 2/4 clone:  45% copying ...", the bar for all steps.
std::string formatProgressLine(const ProgressState& state, std::size_t width);

} // namespace bred::client
