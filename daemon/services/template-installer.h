// Creating a template from a rootfs archive: download (or read a descriptor),
// verify, unpack, apply the layout, and install atomically.
#pragma once

#include "archive-extractor.h"
#include "catalog.h"
#include "download-request.h"
#include "machine-store.h"

#include <optional>
#include <string>

namespace bred {

class JobContext;

enum class VerifyMode { No, Checksum, Signature };
std::optional<VerifyMode> verifyModeFromName(std::string_view name);

struct TemplateRequest {
    std::string name;
    // Where the archive comes from: a distribution, a URL, or an open descriptor.
    std::optional<Distribution> distribution;
    std::string url;
    UniqueFd archiveFd;
    // systemd name: which build of a distribution to fetch; for any source, the
    // architecture the tree must have (empty: any).
    std::string architecture;
    std::string sha256; // expected, lower-case hex; empty when not given
    // nullopt: the strongest the source allows (signature where a keyring is installed).
    std::optional<VerifyMode> verify;
    bool force = false;
    // Installed as a writable container (an export brought back) instead of a template.
    bool asContainer = false;
};

struct InstallLimits {
    DownloadLimits download;
    std::uint64_t maxTreeBytes = 256ull << 30;
};

class TemplateInstaller {
public:
    TemplateInstaller(const MachineStore& store, InstallLimits limits) : store_(store), limits_(limits) { }

    // The job's work. Throws the contract's errors; on any failure or cancel
    // nothing is left under the final name and the temporary tree is gone.
    void install(TemplateRequest& request, JobContext& job) const;

private:
    const MachineStore& store_;
    InstallLimits limits_;
};

} // namespace bred
