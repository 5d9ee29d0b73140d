#include "limit-values.h"

#include "format.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fmt/format.h>

namespace bred::client {

const std::vector<LimitOption>& limitOptions()
{
    static const std::vector<LimitOption> options{
        {"memory", "MemoryMax", LimitOption::Kind::Size},    {"memory-high", "MemoryHigh", LimitOption::Kind::Size},
        {"cpu", "CPUQuota", LimitOption::Kind::Percent},     {"cpu-weight", "CPUWeight", LimitOption::Kind::Count},
        {"io-weight", "IOWeight", LimitOption::Kind::Count}, {"tasks", "TasksMax", LimitOption::Kind::Count},
    };
    return options;
}

namespace {

// A whole decimal number, all of `text`.
std::optional<std::uint64_t> wholeNumber(const std::string& text)
{
    if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos)
        return std::nullopt;
    errno = 0;
    unsigned long long value = std::strtoull(text.c_str(), nullptr, 10);
    if (errno == ERANGE)
        return std::nullopt;
    return value;
}

std::optional<std::uint64_t> parseSize(const std::string& text)
{
    static const std::string suffixes = "KMGT";
    std::string number = text;
    double factor = 1;
    if (!number.empty()) {
        std::string::size_type suffix = suffixes.find(char(std::toupper(static_cast<unsigned char>(number.back()))));
        if (suffix != std::string::npos) {
            factor = std::pow(1024.0, double(suffix + 1));
            number.pop_back();
        }
    }
    if (auto whole = wholeNumber(number); whole && factor == 1)
        return whole;
    // "1.5G": digits, at most one point, digits.
    if (number.empty() || number.find_first_not_of("0123456789.") != std::string::npos ||
        number.find('.') != number.rfind('.') || number == ".")
        return std::nullopt;
    double bytes = std::strtod(number.c_str(), nullptr) * factor;
    if (bytes >= 18446744073709551615.0)
        return std::nullopt;
    return static_cast<std::uint64_t>(bytes);
}

} // namespace

std::uint64_t parseLimitValue(const LimitOption& option, const std::string& text)
{
    if (text == "none")
        return 0;
    std::optional<std::uint64_t> value;
    const char* expected = "";
    switch (option.kind) {
    case LimitOption::Kind::Size:
        value = parseSize(text);
        expected = "a size such as 512M, 2G or a number of bytes, or 'none'";
        break;
    case LimitOption::Kind::Percent:
        value = wholeNumber(text.ends_with('%') ? text.substr(0, text.size() - 1) : text);
        if (value && *value > UINT32_MAX)
            value.reset();
        expected = "a percentage of one CPU such as 50% or 200% (two CPUs), or 'none'";
        break;
    case LimitOption::Kind::Count:
        value = wholeNumber(text);
        expected = "a whole number, or 'none'";
        break;
    }
    if (!value)
        throw UsageError(fmt::format("--{} takes {}, not '{}'.", option.option, expected, text));
    return *value;
}

std::vector<std::pair<const LimitOption*, std::uint64_t>> limitsOfCommandLine(const CommandLine& line)
{
    std::vector<std::pair<const LimitOption*, std::uint64_t>> limits;
    for (const auto& option : limitOptions())
        if (line.has(option.option))
            limits.emplace_back(&option, parseLimitValue(option, line.value(option.option)));
    if (limits.empty())
        throw UsageError("limit needs at least one of --memory, --memory-high, --cpu, --cpu-weight, --io-weight "
                         "or --tasks ('none' unsets one).");
    return limits;
}

std::vector<std::vector<std::string>> limitRows(const std::map<std::string, std::uint64_t>& limits,
                                                const UnitUsage& usage)
{
    auto limit = [&](const char* key) -> std::uint64_t {
        auto found = limits.find(key);
        return found == limits.end() ? 0 : found->second;
    };
    // "USE (LIMIT, LIMIT)", "USE", "LIMIT, LIMIT" or nothing.
    auto row = [](const std::string& use, const std::vector<std::string>& set) {
        std::string joined;
        for (const auto& item : set)
            joined += (joined.empty() ? "" : ", ") + item;
        if (use.empty())
            return joined;
        return joined.empty() ? use : use + " (" + joined + ")";
    };
    std::vector<std::vector<std::string>> rows;
    std::vector<std::string> memory;
    if (limit("MemoryMax"))
        memory.push_back("max " + formatBytes(limit("MemoryMax")));
    if (limit("MemoryHigh"))
        memory.push_back("high " + formatBytes(limit("MemoryHigh")));
    if (auto text = row(usage.memoryBytes ? formatBytes(*usage.memoryBytes) : "", memory); !text.empty())
        rows.push_back({"Memory:", text});
    std::vector<std::string> cpu;
    if (limit("CPUQuota"))
        cpu.push_back(fmt::format("quota {}%", limit("CPUQuota")));
    if (limit("CPUWeight"))
        cpu.push_back(fmt::format("weight {}", limit("CPUWeight")));
    std::string cpuUse = usage.cpuNanoseconds ? fmt::format("{:.1f}s used", double(*usage.cpuNanoseconds) / 1e9) : "";
    if (auto text = row(cpuUse, cpu); !text.empty())
        rows.push_back({"CPU:", text});
    std::vector<std::string> tasks;
    if (limit("TasksMax"))
        tasks.push_back(fmt::format("max {}", limit("TasksMax")));
    if (auto text = row(usage.tasks ? std::to_string(*usage.tasks) : "", tasks); !text.empty())
        rows.push_back({"Tasks:", text});
    if (limit("IOWeight"))
        rows.push_back({"IO weight:", std::to_string(limit("IOWeight"))});
    return rows;
}

} // namespace bred::client
