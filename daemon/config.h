// The daemon's configuration: built-in defaults, overridden by
// /etc/bred-machined/bred-machined.toml when it exists.
#pragma once

#include <filesystem>
#include <string>

namespace bred {

struct Config {
    std::filesystem::path machinesDirectory = "/var/lib/machines";
    // Where each machine's systemd-nspawn settings (NAME.nspawn) live.
    std::filesystem::path settingsDirectory = "/etc/systemd/nspawn";
    // Where `machinectl enable` puts its wants symlinks.
    std::filesystem::path unitDirectory = "/etc/systemd/system";
    unsigned maxJobs = 8;
};

inline constexpr const char* defaultConfigPath = "/etc/bred-machined/bred-machined.toml";

// A missing file gives the defaults; a malformed one throws bred::Error(InvalidArgs)
// naming the file, line and key.
Config loadConfig(const std::filesystem::path& path);
Config parseConfig(std::string_view toml, const std::string& sourceName);

} // namespace bred
