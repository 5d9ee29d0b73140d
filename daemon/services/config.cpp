#include "config.h"

#include "build-config.h"
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
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}: '{}' must be an absolute path", source, key));
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
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}: '{}' must be a non-negative integer", source, key));
    return *value;
}

} // namespace

Config parseConfig(std::string_view text, const std::string& sourceName)
{
    toml::table root;
    try {
        root = toml::parse(text, sourceName);
    } catch (const toml::parse_error& error) {
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}:{}:{}: {}", sourceName, error.source().begin.line,
                                                        error.source().begin.column, error.description()));
    }
    Config config;
    config.catalogFile = std::filesystem::path(BRED_DATADIR) / "distributions.toml";
    config.recipeDirectory = std::filesystem::path(BRED_DATADIR) / "recipes";
    if (const toml::table* recipes = root["recipes"].as_table())
        for (const auto& [id, node] : *recipes) {
            const toml::table* variables = node.as_table();
            if (!variables)
                throw Error(ErrorCode::InvalidArgs,
                            fmt::format("{}: [recipes.{}] must be a table of variables", sourceName, id.str()));
            for (const auto& [name, value] : *variables) {
                RecipeValue parsed;
                if (auto text = value.value<std::string>()) {
                    parsed = *text;
                } else if (const toml::array* array = value.as_array()) {
                    std::vector<std::string> items;
                    for (const auto& item : *array) {
                        auto itemText = item.value<std::string>();
                        if (!itemText)
                            throw Error(ErrorCode::InvalidArgs,
                                        fmt::format("{}: recipes.{}.{} must be a list of strings", sourceName, id.str(),
                                                    name.str()));
                        items.push_back(*itemText);
                    }
                    parsed = items;
                } else {
                    throw Error(ErrorCode::InvalidArgs, fmt::format("{}: recipes.{}.{} must be a string or a list "
                                                                    "of strings",
                                                                    sourceName, id.str(), name.str()));
                }
                config.recipeVariables[std::string(id.str())][std::string(name.str())] = parsed;
            }
        }
    if (const toml::table* download = root["download"].as_table()) {
        config.maxDownloadBytes = static_cast<std::uint64_t>(
            nonNegativeInteger(*download, "max_download_bytes", std::int64_t(config.maxDownloadBytes), sourceName));
        config.maxTreeBytes = static_cast<std::uint64_t>(
            nonNegativeInteger(*download, "max_tree_bytes", std::int64_t(config.maxTreeBytes), sourceName));
        config.connectTimeout = std::chrono::seconds(
            nonNegativeInteger(*download, "connect_timeout_seconds", config.connectTimeout.count(), sourceName));
        config.lowSpeedTimeout = std::chrono::seconds(
            nonNegativeInteger(*download, "low_speed_timeout_seconds", config.lowSpeedTimeout.count(), sourceName));
        config.downloadRetries =
            static_cast<unsigned>(nonNegativeInteger(*download, "retries", config.downloadRetries, sourceName));
    }
    const toml::table* daemon = root["daemon"].as_table();
    if (!daemon)
        return config;
    config.catalogFile = absolutePath(*daemon, "catalog_file", config.catalogFile, sourceName);
    config.catalogDirectory = absolutePath(*daemon, "catalog_directory", config.catalogDirectory, sourceName);
    config.machinesDirectory = absolutePath(*daemon, "machines_directory", config.machinesDirectory, sourceName);
    config.settingsDirectory = absolutePath(*daemon, "settings_directory", config.settingsDirectory, sourceName);
    config.unitDirectory = absolutePath(*daemon, "unit_directory", config.unitDirectory, sourceName);
    config.recipeDirectory = absolutePath(*daemon, "recipe_directory", config.recipeDirectory, sourceName);
    config.localRecipeDirectory =
        absolutePath(*daemon, "local_recipe_directory", config.localRecipeDirectory, sourceName);
    auto maxJobs = nonNegativeInteger(*daemon, "max_jobs", config.maxJobs, sourceName);
    if (maxJobs < 1 || maxJobs > 1024)
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}: 'max_jobs' must be 1 to 1024", sourceName));
    config.maxJobs = static_cast<unsigned>(maxJobs);
    auto maxJobsPerCaller = nonNegativeInteger(*daemon, "max_jobs_per_caller", config.maxJobsPerCaller, sourceName);
    if (maxJobsPerCaller < 1 || maxJobsPerCaller > 1024)
        throw Error(ErrorCode::InvalidArgs, fmt::format("{}: 'max_jobs_per_caller' must be 1 to 1024", sourceName));
    config.maxJobsPerCaller = static_cast<unsigned>(maxJobsPerCaller);
    return config;
}

Config loadConfig(const std::filesystem::path& path)
{
    std::ifstream file(path);
    if (!file)
        return parseConfig("", path.string());
    std::ostringstream text;
    text << file.rdbuf();
    return parseConfig(text.str(), path.string());
}

} // namespace bred
