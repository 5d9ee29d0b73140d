#include "catalog.h"

#include "architecture.h"
#include "errors.h"

#include <algorithm>
#include <cctype>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>
#include <unistd.h>

namespace bred {
namespace {

std::string expand(const std::string& pattern, const std::map<std::string, std::string>& variables,
                   const std::string& distributionId)
{
    std::string out;
    for (std::size_t i = 0; i < pattern.size();) {
        if (pattern[i] != '{') {
            out += pattern[i++];
            continue;
        }
        auto close = pattern.find('}', i);
        if (close == std::string::npos)
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("distribution '{}': unterminated '{{' in '{}'", distributionId, pattern));
        std::string key = pattern.substr(i + 1, close - i - 1);
        auto it = variables.find(key);
        if (it == variables.end())
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("distribution '{}': no value for {{{}}} in '{}'", distributionId, key, pattern));
        out += it->second;
        i = close + 1;
    }
    return out;
}

std::map<std::string, std::string> architectureTable(const toml::node& node, const Error& bad)
{
    const toml::table* table = node.as_table();
    if (!table)
        throw bad;
    std::map<std::string, std::string> architectures;
    for (const auto& [arch, value] : *table) {
        auto name = value.value<std::string>();
        if (!name)
            throw bad;
        architectures[std::string(arch.str())] = *name;
    }
    return architectures;
}

// A later table for the same release overrides single keys, as for distributions.
void applyRelease(Distribution& distribution, const std::string& id, const toml::table& table, const Error& bad)
{
    auto release = std::find_if(distribution.releases.begin(), distribution.releases.end(),
                                [&](const Release& r) { return r.id == id; });
    if (release == distribution.releases.end()) {
        auto position = std::find_if(distribution.releases.begin(), distribution.releases.end(),
                                     [&](const Release& r) { return r.id > id; });
        release = distribution.releases.insert(position, Release{id, "", {}, {}});
    }
    for (const auto& [keyNode, node] : table) {
        std::string key(keyNode.str());
        if (key == "architectures") {
            release->architectures = architectureTable(node, bad);
            continue;
        }
        auto value = node.value<std::string>();
        if (!value)
            throw bad;
        if (key == "name")
            release->name = *value;
        else
            release->variables[key] = *value;
    }
}

void applyTable(Distribution& distribution, const toml::table& table, const std::string& source)
{
    auto bad = [&](const std::string& key) {
        return Error(ErrorCode::InvalidArgs, fmt::format("{}: distribution '{}': '{}' has a wrong type or value",
                                                         source, distribution.id, key));
    };
    for (const auto& [keyNode, node] : table) {
        std::string key(keyNode.str());
        if (key == "keyring") {
            // One path, or several where distributions keep it in different places.
            distribution.keyrings.clear();
            if (auto path = node.value<std::string>()) {
                distribution.keyrings.push_back(*path);
            } else if (const toml::array* paths = node.as_array()) {
                for (const auto& element : *paths) {
                    auto candidate = element.value<std::string>();
                    if (!candidate)
                        throw bad(key);
                    distribution.keyrings.push_back(*candidate);
                }
            } else {
                throw bad(key);
            }
            continue;
        }
        if (key == "architectures") {
            distribution.architectures = architectureTable(node, bad(key));
            continue;
        }
        if (key == "releases") {
            const toml::table* releases = node.as_table();
            if (!releases)
                throw bad(key);
            for (const auto& [releaseId, releaseNode] : *releases) {
                const toml::table* releaseTable = releaseNode.as_table();
                if (!releaseTable)
                    throw bad(key);
                applyRelease(distribution, std::string(releaseId.str()), *releaseTable,
                             bad("releases." + std::string(releaseId.str())));
            }
            continue;
        }
        if (key == "signature_covers_archive") {
            auto value = node.value<bool>();
            if (!value)
                throw bad(key);
            distribution.signatureCoversArchive = *value;
            continue;
        }
        auto value = node.value<std::string>();
        if (!value)
            throw bad(key);
        if (key == "name") {
            distribution.name = *value;
        } else if (key == "url") {
            distribution.archiveUrl = *value;
        } else if (key == "checksum_url") {
            distribution.checksumUrl = *value;
        } else if (key == "checksum_format") {
            auto format = checksumFormatFromName(*value);
            if (!format)
                throw bad(key);
            distribution.checksumFormat = *format;
        } else if (key == "signature_url") {
            distribution.signatureUrl = *value;
        } else if (key == "default_release") {
            distribution.defaultRelease = *value;
        } else if (key == "latest") {
            distribution.latestVariable = *value;
        } else if (key == "latest_index") {
            distribution.latestIndexUrl = *value;
        } else if (key == "latest_entry") {
            distribution.latestEntry = *value;
        } else if (key == "layout") {
            auto layout = archiveLayoutFromName(*value);
            if (!layout)
                throw bad(key);
            distribution.layout = *layout;
        } else {
            // Any other string is a variable for the URL patterns (mirror, release, ...).
            distribution.variables[key] = *value;
        }
    }
}

std::string readFile(const std::filesystem::path& path)
{
    std::ifstream file(path);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

} // namespace

namespace {

// The keyring paths with the release's variables in them (Fedora's key is per release).
std::vector<std::string> keyringPaths(const Distribution& distribution)
{
    std::vector<std::string> paths;
    for (const auto& pattern : distribution.keyrings)
        paths.push_back(expand(pattern, distribution.variables, distribution.id));
    return paths;
}

} // namespace

std::optional<std::string> installedKeyring(const Distribution& distribution)
{
    for (const auto& path : keyringPaths(distribution))
        if (!path.empty() && access(path.c_str(), R_OK) == 0)
            return path;
    return std::nullopt;
}

std::string missingKeyringReason(const Distribution& distribution)
{
    auto paths = keyringPaths(distribution);
    if (paths.empty())
        return "the catalog names no keyring for " + distribution.name;
    if (paths.size() == 1)
        return "keyring " + paths.front() + " is not installed";
    return fmt::format("none of the keyrings {} is installed", fmt::join(paths, ", "));
}

std::optional<ArchiveLayout> archiveLayoutFromName(std::string_view name)
{
    if (name == "detect")
        return ArchiveLayout::Detect;
    if (name == "rootfs")
        return ArchiveLayout::Rootfs;
    if (name == "bootstrap")
        return ArchiveLayout::Bootstrap;
    if (name == "oci")
        return ArchiveLayout::Oci;
    if (name == "disk-image")
        return ArchiveLayout::DiskImage;
    return std::nullopt;
}

std::optional<ChecksumFormat> checksumFormatFromName(std::string_view name)
{
    if (name == "sha256sums")
        return ChecksumFormat::Sha256Sums;
    if (name == "sha512sums")
        return ChecksumFormat::Sha512Sums;
    if (name == "md5sums")
        return ChecksumFormat::Md5Sums;
    if (name == "fedora-checksum")
        return ChecksumFormat::FedoraChecksum;
    return std::nullopt;
}

Catalog Catalog::parse(const std::vector<std::pair<std::string, std::string>>& sources)
{
    Catalog catalog;
    for (const auto& [sourceName, text] : sources) {
        toml::table root;
        try {
            root = toml::parse(text, sourceName);
        } catch (const toml::parse_error& error) {
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("{}:{}: {}", sourceName, error.source().begin.line, error.description()));
        }
        for (const auto& [idNode, node] : root) {
            std::string id(idNode.str());
            const toml::table* table = node.as_table();
            if (!table)
                throw Error(ErrorCode::InvalidArgs,
                            fmt::format("{}: '{}' must be a table of a distribution's settings", sourceName, id));
            auto it = std::find_if(catalog.distributions_.begin(), catalog.distributions_.end(),
                                   [&](const Distribution& d) { return d.id == id; });
            if (it == catalog.distributions_.end()) {
                catalog.distributions_.push_back(Distribution{});
                it = catalog.distributions_.end() - 1;
                it->id = id;
                it->name = id;
            }
            applyTable(*it, *table, sourceName);
        }
    }
    for (auto& distribution : catalog.distributions_) {
        auto invalid = [&](const std::string& what) {
            return Error(ErrorCode::InvalidArgs, fmt::format("distribution '{}' {}", distribution.id, what));
        };
        if (distribution.archiveUrl.empty() || distribution.architectures.empty())
            throw invalid("needs a 'url' and 'architectures'");
        if (distribution.releases.empty()) {
            auto release = distribution.variables.find("release");
            distribution.releases.push_back(
                Release{release == distribution.variables.end() ? "latest" : release->second, "", {}, {}});
        }
        if (distribution.defaultRelease.empty()) {
            if (distribution.releases.size() > 1)
                throw invalid("has several releases and needs a 'default_release'");
            distribution.defaultRelease = distribution.releases.front().id;
        }
        if (std::none_of(distribution.releases.begin(), distribution.releases.end(),
                         [&](const Release& r) { return r.id == distribution.defaultRelease; }))
            throw invalid(fmt::format("has no release '{}' (its 'default_release')", distribution.defaultRelease));
        if (!distribution.latestVariable.empty()) {
            auto marker = distribution.latestEntry.find("{" + distribution.latestVariable + "}");
            if (marker == 0 || marker == std::string::npos || distribution.latestIndexUrl.empty())
                throw invalid(fmt::format("needs a 'latest_index' and a 'latest_entry' with text before {{{}}}",
                                          distribution.latestVariable));
        }
    }
    return catalog;
}

Catalog Catalog::load(const std::filesystem::path& vendorFile, const std::filesystem::path& overrideDirectory)
{
    std::vector<std::pair<std::string, std::string>> sources;
    std::error_code error;
    if (std::filesystem::exists(vendorFile, error))
        sources.emplace_back(vendorFile.string(), readFile(vendorFile));
    std::vector<std::filesystem::path> overrides;
    for (const auto& entry : std::filesystem::directory_iterator(overrideDirectory, error))
        if (entry.path().extension() == ".toml")
            overrides.push_back(entry.path());
    std::sort(overrides.begin(), overrides.end());
    for (const auto& path : overrides)
        sources.emplace_back(path.string(), readFile(path));
    return parse(sources);
}

const Distribution& Catalog::find(const std::string& id) const
{
    for (const auto& distribution : distributions_)
        if (distribution.id == id)
            return distribution;
    throw Error(ErrorCode::NoSuchDistribution,
                fmt::format("No distribution '{}' in the catalog; 'bredmachine distros' lists them.", id));
}

std::string Catalog::nativeArchitecture(const Distribution& distribution, const std::string& architecture)
{
    auto arch = distribution.architectures.find(architecture);
    if (arch == distribution.architectures.end()) {
        std::string known;
        for (const auto& [name, native] : distribution.architectures)
            known += (known.empty() ? "" : ", ") + name;
        throw Error(ErrorCode::UnsupportedArchitecture,
                    fmt::format("{} is not published for {}; choose one of: {} (option 'arch').", distribution.name,
                                architecture, known));
    }
    return arch->second;
}

Distribution Catalog::choose(const std::string& id, const std::string& release) const
{
    Distribution chosen = find(id);
    const std::string& wanted = release.empty() ? chosen.defaultRelease : release;
    auto it =
        std::find_if(chosen.releases.begin(), chosen.releases.end(), [&](const Release& r) { return r.id == wanted; });
    if (it == chosen.releases.end()) {
        std::vector<std::string> known;
        for (const auto& r : chosen.releases)
            known.push_back(r.id);
        throw Error(ErrorCode::NoSuchDistribution,
                    fmt::format("{} has no release '{}'; choose one of: {} (option 'release'; 'bredmachine distros' "
                                "lists them).",
                                chosen.name, wanted, fmt::join(known, ", ")));
    }
    chosen.variables["release"] = it->id;
    for (const auto& [key, value] : it->variables)
        chosen.variables[key] = value;
    if (!it->name.empty())
        chosen.name = it->name;
    if (!it->architectures.empty())
        chosen.architectures = it->architectures;
    return chosen;
}

std::vector<ReleaseListing> Catalog::releaseListing(const std::string& id) const
{
    const Distribution& distribution = find(id);
    std::vector<ReleaseListing> list;
    for (const auto& release : distribution.releases) {
        const auto& architectures = release.architectures.empty() ? distribution.architectures : release.architectures;
        std::vector<std::string> names;
        for (const auto& [architecture, native] : architectures)
            names.push_back(architecture);
        list.push_back(ReleaseListing{release.id, release.name.empty() ? distribution.name : release.name,
                                      fmt::format("{}", fmt::join(names, ",")),
                                      release.id == distribution.defaultRelease});
    }
    return list;
}

std::optional<Catalog::LatestIndex> Catalog::latestIndex(const Distribution& distribution,
                                                         const std::string& architecture)
{
    if (distribution.latestVariable.empty())
        return std::nullopt;
    auto variables = distribution.variables;
    variables["arch"] = nativeArchitecture(distribution, architecture);
    std::string marker = "{" + distribution.latestVariable + "}";
    auto at = distribution.latestEntry.find(marker);
    return LatestIndex{expand(distribution.latestIndexUrl, variables, distribution.id),
                       expand(distribution.latestEntry.substr(0, at), variables, distribution.id),
                       expand(distribution.latestEntry.substr(at + marker.size()), variables, distribution.id)};
}

namespace {

// A character of a file name, as indexes spell them: an entry ends where these do.
bool isFileNameCharacter(char c)
{
    return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '+' || c == '~';
}

// "24.04.3" → {24, 4, 3}; nullopt for anything but dot-separated numbers.
std::optional<std::vector<unsigned long>> versionParts(std::string_view text)
{
    constexpr std::size_t maxVersionLength = 32, maxPartDigits = 9;
    if (text.empty() || text.size() > maxVersionLength)
        return std::nullopt;
    std::vector<unsigned long> parts;
    std::size_t start = 0;
    while (true) {
        auto dot = text.find('.', start);
        std::string_view part = text.substr(start, dot == std::string_view::npos ? text.npos : dot - start);
        if (part.empty() || part.size() > maxPartDigits)
            return std::nullopt;
        unsigned long value = 0;
        for (char c : part) {
            if (c < '0' || c > '9')
                return std::nullopt;
            value = value * 10 + static_cast<unsigned long>(c - '0');
        }
        parts.push_back(value);
        if (dot == std::string_view::npos)
            return parts;
        start = dot + 1;
    }
}

} // namespace

std::optional<std::string> latestVersionInIndex(std::string_view index, std::string_view before, std::string_view after)
{
    if (before.empty())
        return std::nullopt;
    std::optional<std::string> latest;
    std::vector<unsigned long> latestParts;
    for (auto at = index.find(before); at != std::string_view::npos; at = index.find(before, at + 1)) {
        if (at > 0 && isFileNameCharacter(index[at - 1]))
            continue;
        std::size_t start = at + before.size(), end = start;
        while (end < index.size() && (std::isdigit(static_cast<unsigned char>(index[end])) || index[end] == '.'))
            ++end;
        if (index.substr(end, after.size()) != after)
            continue;
        std::size_t entryEnd = end + after.size();
        if (entryEnd < index.size() && isFileNameCharacter(index[entryEnd]))
            continue;
        auto parts = versionParts(index.substr(start, end - start));
        if (parts && (!latest || *parts > latestParts)) {
            latest = std::string(index.substr(start, end - start));
            latestParts = std::move(*parts);
        }
    }
    return latest;
}

ResolvedSource Catalog::resolve(const Distribution& distribution, const std::string& architecture)
{
    auto variables = distribution.variables;
    variables["arch"] = nativeArchitecture(distribution, architecture);
    ResolvedSource source;
    source.archiveUrl = expand(distribution.archiveUrl, variables, distribution.id);
    if (!distribution.checksumUrl.empty())
        source.checksumUrl = expand(distribution.checksumUrl, variables, distribution.id);
    if (!distribution.signatureUrl.empty())
        source.signatureUrl = expand(distribution.signatureUrl, variables, distribution.id);
    auto slash = source.archiveUrl.rfind('/');
    source.fileName = slash == std::string::npos ? source.archiveUrl : source.archiveUrl.substr(slash + 1);
    return source;
}

std::vector<DistributionListing> Catalog::listing() const
{
    std::vector<DistributionListing> list;
    for (const auto& distribution : distributions_) {
        DistributionListing entry{distribution.id, distribution.name, "", ""};
        for (const auto& [architecture, native] : distribution.architectures)
            entry.architectures += (entry.architectures.empty() ? "" : ",") + architecture;
        try {
            auto preferred = distribution.architectures.count(hostArchitecture())
                                 ? hostArchitecture()
                                 : distribution.architectures.begin()->first;
            Distribution chosen = choose(distribution.id, "");
            // What is looked up only when a template is made stays a placeholder.
            if (!chosen.latestVariable.empty())
                chosen.variables.try_emplace(chosen.latestVariable, "{" + chosen.latestVariable + "}");
            entry.url = resolve(chosen, preferred).archiveUrl;
        } catch (const Error&) {
            entry.url = distribution.archiveUrl;
        }
        list.push_back(std::move(entry));
    }
    return list;
}

} // namespace bred
