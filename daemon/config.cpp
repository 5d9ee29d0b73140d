#include "config.h"

#include "errors.h"

#include <fmt/format.h>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

namespace bred {
namespace {

std::filesystem::path absolutePath(const toml::table& section, std::string_view key,
                                   const std::filesystem::path& fallback, const std::string& source)
{
    auto node = section[key];
    if (!node)
        return fallback;
    auto value = node.value<std::string>();
    if (!value || value->empty() || value->front() != '/')
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("{}: '{}' must be an absolute path", source, key));
    return std::filesystem::path(*value).lexically_normal();
}

std::int64_t nonNegativeInteger(const toml::table& section, std::string_view key, std::int64_t fallback,
                                const std::string& source)
{
    auto node = section[key];
    if (!node)
        return fallback;
    auto value = node.value<std::int64_t>();
    if (!value || *value < 0)
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("{}: '{}' must be a non-negative integer", source, key));
    return *value;
}

} // namespace

Config parseConfig(std::string_view text, const std::string& sourceName)
{
    toml::table root;
    try {
        root = toml::parse(text, sourceName);
    } catch (const toml::parse_error& error) {
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("{}:{}:{}: {}", sourceName, error.source().begin.line,
                                error.source().begin.column, error.description()));
    }
    Config config;
    const toml::table* daemon = root["daemon"].as_table();
    if (!daemon)
        return config;
    config.machinesDirectory =
        absolutePath(*daemon, "machines_directory", config.machinesDirectory, sourceName);
    config.settingsDirectory =
        absolutePath(*daemon, "settings_directory", config.settingsDirectory, sourceName);
    config.unitDirectory = absolutePath(*daemon, "unit_directory", config.unitDirectory, sourceName);
    auto maxJobs = nonNegativeInteger(*daemon, "max_jobs", config.maxJobs, sourceName);
    if (maxJobs < 1 || maxJobs > 1024)
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}: 'max_jobs' must be 1 to 1024", sourceName));
    config.maxJobs = static_cast<unsigned>(maxJobs);
    return config;
}

Config loadConfig(const std::filesystem::path& path)
{
    std::ifstream file(path);
    if (!file)
        return Config{};
    std::ostringstream text;
    text << file.rdbuf();
    return parseConfig(text.str(), path.string());
}

} // namespace bred
