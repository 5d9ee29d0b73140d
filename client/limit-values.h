// `bredmachine limit`'s options as the limits SetLimits takes, and the limits
// with the unit's current use as `status` shows them. Pure: unit-tested alone.
#pragma once

#include "command-line.h"

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace bred::client {

struct LimitOption {
    enum class Kind { Size, Percent, Count };
    const char* option; // the verb's option, "memory"
    const char* key;    // SetLimits's key, "MemoryMax"
    Kind kind;          // Percent is SetLimits's 'u'; the others are 't'
};
const std::vector<LimitOption>& limitOptions();

// The value of one option: a size (512M, 2G, 1.5G, bytes; K, M, G, T in
// powers of 1024), a percentage (50% or 50) or a count; "none" is 0, which
// unsets the limit. Throws UsageError naming `option`.
std::uint64_t parseLimitValue(const LimitOption& option, const std::string& text);

// Every limit option given on the command line, by SetLimits's key. Throws
// UsageError when none is.
std::vector<std::pair<const LimitOption*, std::uint64_t>> limitsOfCommandLine(const CommandLine& line);

// What the unit uses now; nullopt where systemd does not know (or it is stopped).
struct UnitUsage {
    std::optional<std::uint64_t> memoryBytes, tasks, cpuNanoseconds;
};

// The rows `status` shows: "Memory:", "CPU:", "Tasks:", "IO weight:", each
// with the use and the limits that are set, from the Limits property's values
// (`limits`, by key); a row only where there is something to say.
std::vector<std::vector<std::string>> limitRows(const std::map<std::string, std::uint64_t>& limits,
                                                const UnitUsage& usage);

} // namespace bred::client
