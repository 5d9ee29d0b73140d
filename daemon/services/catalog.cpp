#include "catalog.h"

#include "errors.h"

#include <algorithm>
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <fstream>
#include <sstream>
#include <sys/utsname.h>
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
            const toml::table* architectures = node.as_table();
            if (!architectures)
                throw bad(key);
            distribution.architectures.clear();
            for (const auto& [arch, value] : *architectures) {
                auto name = value.value<std::string>();
                if (!name)
                    throw bad(key);
                distribution.architectures[std::string(arch.str())] = *name;
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

std::optional<std::string> installedKeyring(const Distribution& distribution)
{
    for (const auto& path : distribution.keyrings)
        if (!path.empty() && access(path.c_str(), R_OK) == 0)
            return path;
    return std::nullopt;
}

std::string missingKeyringReason(const Distribution& distribution)
{
    if (distribution.keyrings.empty())
        return "the catalog names no keyring for " + distribution.name;
    if (distribution.keyrings.size() == 1)
        return "keyring " + distribution.keyrings.front() + " is not installed";
    return fmt::format("none of the keyrings {} is installed", fmt::join(distribution.keyrings, ", "));
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
    for (const auto& distribution : catalog.distributions_)
        if (distribution.archiveUrl.empty() || distribution.architectures.empty())
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("distribution '{}' needs a 'url' and 'architectures'", distribution.id));
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

ResolvedSource Catalog::resolve(const Distribution& distribution, const std::string& architecture)
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
    auto variables = distribution.variables;
    variables["arch"] = arch->second;
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

std::string hostArchitecture()
{
    utsname name{};
    uname(&name);
    std::string machine = name.machine;
    if (machine == "x86_64")
        return "x86-64";
    if (machine == "aarch64")
        return "arm64";
    if (machine.starts_with("armv"))
        return "arm";
    if (machine == "riscv64")
        return "riscv64";
    if (machine == "i686" || machine == "i586" || machine == "i386")
        return "x86";
    if (machine == "ppc64le")
        return "ppc64-le";
    return machine;
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
            entry.url = resolve(distribution, preferred).archiveUrl;
        } catch (const Error&) {
            entry.url = distribution.archiveUrl;
        }
        list.push_back(std::move(entry));
    }
    return list;
}

} // namespace bred
