// The distribution catalog: where each distribution publishes its rootfs,
// for which architectures, in which layout, with which checksum file.
#pragma once

#include "checksum.h"

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bred {

// How an archive holds the OS tree.
enum class ArchiveLayout {
    Detect,    // look at what was extracted
    Rootfs,    // the tree at the top level
    Bootstrap, // root.<arch>/ plus pkglist and version (Arch Linux bootstrap)
    Oci,       // an OCI image layout or a docker-save archive of layers
    DiskImage, // one disk.raw GPT image whose root partition holds the tree
};
std::optional<ArchiveLayout> archiveLayoutFromName(std::string_view name);

std::optional<ChecksumFormat> checksumFormatFromName(std::string_view name);

// One release of a distribution: its values for the URL patterns override the
// distribution's (codename, number, mirror for an end-of-life one, ...).
struct Release {
    std::string id;
    std::string name; // empty: the distribution's
    std::map<std::string, std::string> variables;
    std::map<std::string, std::string> architectures; // empty: the distribution's
};

struct Distribution {
    std::string id;
    std::string name;
    // Values for the {placeholders} of the URL patterns: mirror, release, ...
    std::map<std::string, std::string> variables;
    std::string archiveUrl;  // pattern
    std::string checksumUrl; // pattern; empty: nothing published
    ChecksumFormat checksumFormat = ChecksumFormat::Sha256Sums;
    std::string signatureUrl;            // pattern; empty: nothing published
    bool signatureCoversArchive = false; // else it covers the checksum file
    // For gpgv: where each distribution keeps the keyring (Debian, Arch, ...);
    // the first one installed is used. None installed: signatures cannot be checked.
    std::vector<std::string> keyrings;
    ArchiveLayout layout = ArchiveLayout::Rootfs;
    // systemd architecture name → the distribution's own name for it.
    std::map<std::string, std::string> architectures;
    // In id order; never empty once parsed (a distribution without a releases
    // table has one, its 'release' value or "latest").
    std::vector<Release> releases;
    std::string defaultRelease;
    // What changes by itself: the variable `latestVariable` takes the highest
    // version that the index at `latestIndexUrl` (pattern) names in
    // `latestEntry` (pattern with {latestVariable} in it). Empty: nothing.
    std::string latestVariable, latestIndexUrl, latestEntry;
};

// The highest version (digits and dots, compared numerically part by part) that
// `index` names where the `before` and `after` texts enclose it, as in a checksum
// file or an HTML directory listing. The index is untrusted.
std::optional<std::string> latestVersionInIndex(std::string_view index, std::string_view before,
                                                std::string_view after);

// The first of the distribution's keyrings that is installed (readable), if any.
std::optional<std::string> installedKeyring(const Distribution& distribution);

// "keyring K is not installed" or "none of the keyrings K1, K2 is installed":
// why installedKeyring found none.
std::string missingKeyringReason(const Distribution& distribution);

struct ResolvedSource {
    std::string archiveUrl, checksumUrl, signatureUrl;
    std::string fileName; // the archive's name in the checksum file
};

// A distribution as ListDistributions shows it: its architectures (systemd
// names, comma-separated) and the archive's URL for this host's architecture,
// or the first one it has.
struct DistributionListing {
    std::string id, name, architectures, url;
};

// A release as ListDistributionReleases shows it.
struct ReleaseListing {
    std::string release, name, architectures; // architectures: systemd names, comma-separated
    bool isDefault = false;
};

class Catalog {
public:
    // Reads `vendorFile`, then each *.toml in `overrideDirectory` in name order;
    // a later table with the same id overrides single keys. Throws Error(InvalidArgs) on bad files.
    static Catalog load(const std::filesystem::path& vendorFile, const std::filesystem::path& overrideDirectory);
    static Catalog parse(const std::vector<std::pair<std::string, std::string>>& sources);

    const std::vector<Distribution>& distributions() const { return distributions_; }
    // Throws NoSuchDistribution.
    const Distribution& find(const std::string& id) const;
    std::vector<DistributionListing> listing() const;
    // Throws NoSuchDistribution.
    std::vector<ReleaseListing> releaseListing(const std::string& id) const;
    // The distribution with `release`'s values (empty: the default release)
    // applied: its name and variables. Throws NoSuchDistribution.
    Distribution choose(const std::string& id, const std::string& release) const;

    // Where `distribution` (as choose gives) lists its latest version, as an
    // URL and the entry's text before and after the version, for `architecture`;
    // nullopt when it has nothing to resolve.
    struct LatestIndex {
        std::string url, before, after;
    };
    static std::optional<LatestIndex> latestIndex(const Distribution& distribution, const std::string& architecture);

    // The distribution's name for `architecture`. Throws UnsupportedArchitecture.
    static std::string nativeArchitecture(const Distribution& distribution, const std::string& architecture);

    // The URLs for `architecture` (a systemd name such as "x86-64"; the catalog
    // maps it). Throws UnsupportedArchitecture.
    static ResolvedSource resolve(const Distribution& distribution, const std::string& architecture);

private:
    std::vector<Distribution> distributions_;
};

} // namespace bred
