// The daemon's configuration: built-in defaults, overridden by
// /etc/bred-machined/bred-machined.toml when it exists.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "recipe.h"

namespace bred {

struct Config {
    std::filesystem::path machinesDirectory = "/var/lib/machines";
    // Where each machine's systemd-nspawn settings (NAME.nspawn) live.
    std::filesystem::path settingsDirectory = "/etc/systemd/nspawn";
    // Where `machinectl enable` puts its wants symlinks.
    std::filesystem::path unitDirectory = "/etc/systemd/system";
    unsigned maxJobs = 16;
    // Jobs one caller (uid) may have at once; root is not limited.
    unsigned maxJobsPerCaller = 4;
    // The distribution catalog and the directory of local additions and overrides.
    std::filesystem::path catalogFile;
    std::filesystem::path catalogDirectory = "/etc/bred-machined/distributions.d";
    // Downloads and unpacking.
    std::uint64_t maxDownloadBytes = 16ull << 30;
    std::uint64_t maxTreeBytes = 256ull << 30;
    std::chrono::seconds connectTimeout{30};
    std::chrono::seconds lowSpeedTimeout{60};
    unsigned downloadRetries = 3;
    // Conversion recipes: the shipped ones, local ones replacing them by id, and
    // per-recipe variable values ([recipes.ID] tables) replacing their defaults.
    std::filesystem::path recipeDirectory;
    std::filesystem::path localRecipeDirectory = "/etc/bred-machined/recipes";
    std::map<std::string, RecipeVariables> recipeVariables;
};

inline constexpr const char* defaultConfigPath = "/etc/bred-machined/bred-machined.toml";

// A missing file gives the defaults; a malformed one throws bred::Error(InvalidArgs)
// naming the file, line and key.
Config loadConfig(const std::filesystem::path& path);
Config parseConfig(std::string_view toml, const std::string& sourceName);

} // namespace bred
