#include "template-installer.h"

#include "architecture.h"
#include "checksum.h"
#include "directory-entries.h"
#include "disk-image.h"
#include "download-process.h"
#include "errors.h"
#include "gpg-verify.h"
#include "helper-process.h"
#include "in-root.h"
#include "job.h"
#include "os-tree.h"
#include "refusals.h"
#include "temporary-tree.h"

#include <cerrno>
#include <cstring>
#include <exception>
#include <fcntl.h>
#include <fmt/format.h>
#include <memory>
#include <optional>
#include <poll.h>
#include <string_view>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

namespace bred {
namespace {

constexpr std::size_t maxChecksumFileSize = 4 << 20;
constexpr std::size_t maxSignatureSize = 1 << 20;
constexpr std::size_t maxReleaseIndexSize = 4 << 20;

// A reader of the caller's descriptor that never blocks: a pipe is reopened as a
// descriptor of our own with O_NONBLOCK (the caller's open file keeps its flags),
// so waiting for data is a poll that a cancel ends. A regular file is read as is.
UniqueFd nonBlockingReader(int callerFd)
{
    struct stat st { };
    if (fstat(callerFd, &st) == 0 && S_ISREG(st.st_mode))
        return UniqueFd(fcntl(callerFd, F_DUPFD_CLOEXEC, 3));
    std::string path = fmt::format("/proc/self/fd/{}", callerFd);
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd)
        throw Error(ErrorCode::Failed, fmt::format("cannot read the archive's pipe: {}", std::strerror(errno)));
    return fd;
}

enum class FeedEnd { Complete, Canceled, UnpackerGone };

// Passes what `sourceFd` (non-blocking) gives on to the unpacker's pipe
// `sinkFd` (non-blocking) and to `inspect`, until the source ends. Each wait is
// one poll for data or room, the job's cancel, and the unpacker's end (its
// end of the pipe closes, which poll reports on ours as POLLERR).
FeedEnd feedUnpacker(int sourceFd, int sinkFd, int cancelFd,
                     const std::function<void(const char*, std::size_t)>& inspect)
{
    std::vector<char> buffer(1 << 20);
    for (;;) {
        pollfd entries[] = {{sourceFd, POLLIN, 0}, {cancelFd, POLLIN, 0}, {sinkFd, 0, 0}};
        if (poll(entries, 3, -1) < 0 && errno != EINTR)
            throw Error(ErrorCode::Failed, fmt::format("cannot wait for the archive: {}", std::strerror(errno)));
        if (entries[1].revents != 0)
            return FeedEnd::Canceled;
        if (entries[2].revents != 0)
            return FeedEnd::UnpackerGone;
        if (entries[0].revents == 0)
            continue;
        ssize_t n = read(sourceFd, buffer.data(), buffer.size());
        if (n == 0)
            return FeedEnd::Complete;
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                continue;
            throw Error(ErrorCode::Failed, fmt::format("cannot read the archive: {}", std::strerror(errno)));
        }
        inspect(buffer.data(), std::size_t(n));
        std::string_view rest(buffer.data(), std::size_t(n));
        while (!rest.empty()) {
            ssize_t written = write(sinkFd, rest.data(), rest.size());
            if (written > 0) {
                rest.remove_prefix(std::size_t(written));
            } else if (written < 0 && errno == EAGAIN) {
                pollfd room[] = {{sinkFd, POLLOUT, 0}, {cancelFd, POLLIN, 0}};
                if (poll(room, 2, -1) > 0 && room[1].revents != 0)
                    return FeedEnd::Canceled;
            } else if (!(written < 0 && errno == EINTR)) {
                return FeedEnd::UnpackerGone; // EPIPE: its result says why
            }
        }
    }
}

struct Expectation {
    std::optional<ExpectedChecksum> checksum;
    std::unique_ptr<StreamingSignatureCheck> archiveSignature;
    // What the template will say about itself once the checks above have passed.
    TreeVerification verification{"none", ""};
};

// Fetches and checks what the distribution publishes, before the archive.
// What changes by itself in a release (Ubuntu's point release, Fedora's respin):
// the highest version the distribution's own index names, into the variables.
void resolveLatest(TemplateRequest& request, const InstallLimits& limits, JobContext& job)
{
    if (!request.distribution)
        return;
    Distribution& distribution = *request.distribution;
    auto index = Catalog::latestIndex(distribution, request.architecture);
    if (!index)
        return;
    job.log(LOG_INFO, fmt::format("Looking up the current {} in {}", distribution.latestVariable, index->url));
    std::string text = downloadSmall(index->url, limits.download, maxReleaseIndexSize, job.cancelFd());
    auto latest = latestVersionInIndex(text, index->before, index->after);
    if (!latest)
        throw Error(ErrorCode::DownloadFailed,
                    fmt::format("{} names no {}VERSION{}; the mirror may be in the middle of an update.", index->url,
                                index->before, index->after));
    job.log(LOG_INFO, fmt::format("{}: {} {}", distribution.name, distribution.latestVariable, *latest));
    distribution.variables[distribution.latestVariable] = *latest;
}

Expectation prepareVerification(TemplateRequest& request, const InstallLimits& limits, JobContext& job)
{
    Expectation expectation;
    VerifyMode wanted = request.verify.value_or(VerifyMode::Signature);
    if (!request.sha256.empty())
        expectation.checksum = ExpectedChecksum{HashAlgorithm::Sha256, request.sha256};
    if (expectation.checksum)
        expectation.verification.method = "checksum";
    if (wanted == VerifyMode::No) {
        job.log(LOG_WARNING, "Not verifying the archive, as asked (verify=no).");
        return expectation;
    }
    if (!request.distribution) {
        if (request.archiveFd) {
            if (!expectation.checksum)
                job.log(LOG_WARNING, "The archive is not verified: no sha256 was given.");
            return expectation;
        }
        if (expectation.checksum)
            return expectation;
        // As importd does: a SHA256SUMS file beside the archive.
        auto slash = request.url.rfind('/');
        std::string sumsUrl = request.url.substr(0, slash + 1) + "SHA256SUMS";
        std::string fileName = request.url.substr(slash + 1);
        try {
            auto sums = downloadSmall(sumsUrl, limits.download, maxChecksumFileSize, job.cancelFd());
            expectation.checksum = findChecksum(ChecksumFormat::Sha256Sums, sums, fileName);
            if (expectation.checksum)
                expectation.verification.method = "checksum";
        } catch (const Error&) {
            // No such file: say what to do instead, below.
        }
        if (!expectation.checksum)
            throw Error(ErrorCode::VerificationFailed,
                        fmt::format("No checksum to verify {} against (no SHA256SUMS beside it lists it): give "
                                    "its SHA-256 (option sha256, --sha256) or ask not to verify (verify=no).",
                                    request.url));
        job.log(LOG_INFO, fmt::format("Verifying against {}.", sumsUrl));
        return expectation;
    }

    const Distribution& distribution = *request.distribution;
    auto source = Catalog::resolve(distribution, request.architecture);
    const std::optional<std::string> keyring = installedKeyring(distribution);
    bool canCheckSignature = keyring && (!distribution.signatureUrl.empty() ||
                                         distribution.checksumFormat == ChecksumFormat::FedoraChecksum);
    if (wanted == VerifyMode::Signature && !canCheckSignature) {
        if (request.verify)
            throw Error(ErrorCode::VerificationFailed,
                        fmt::format("Cannot check {}'s signature: {}; use verify=checksum.", distribution.name,
                                    missingKeyringReason(distribution)));
        job.log(LOG_WARNING, fmt::format("Signature not checked: {}; checking the published checksum only.",
                                         missingKeyringReason(distribution)));
        wanted = VerifyMode::Checksum;
    }
    if (source.checksumUrl.empty()) {
        if (!expectation.checksum)
            throw Error(ErrorCode::VerificationFailed,
                        fmt::format("{} publishes no checksum file; give the SHA-256 (option sha256) or "
                                    "verify=no.",
                                    distribution.name));
        return expectation;
    }
    job.log(LOG_INFO, fmt::format("Fetching {}", source.checksumUrl));
    std::string checksums = downloadSmall(source.checksumUrl, limits.download, maxChecksumFileSize, job.cancelFd());
    if (wanted == VerifyMode::Signature) {
        if (distribution.checksumFormat == ChecksumFormat::FedoraChecksum && distribution.signatureUrl.empty()) {
            auto verified = verifyClearSigned(*keyring, checksums);
            checksums = std::move(verified.text);
            expectation.verification = {"signature", verified.signingKey};
        } else if (!distribution.signatureCoversArchive) {
            auto signature = downloadSmall(source.signatureUrl, limits.download, maxSignatureSize, job.cancelFd());
            expectation.verification = {"signature", verifySignature(*keyring, signature, checksums)};
        } else {
            auto signature = downloadSmall(source.signatureUrl, limits.download, maxSignatureSize, job.cancelFd());
            expectation.archiveSignature = std::make_unique<StreamingSignatureCheck>(*keyring, signature);
        }
        if (!expectation.archiveSignature)
            job.log(LOG_INFO,
                    fmt::format("Signature checked with {} (key {}).", *keyring, expectation.verification.key));
    }
    auto published = findChecksum(distribution.checksumFormat, checksums, source.fileName);
    if (!published)
        throw Error(ErrorCode::VerificationFailed,
                    fmt::format("{} does not list {}; the mirror may be in the middle of an update.",
                                source.checksumUrl, source.fileName));
    if (expectation.checksum && expectation.checksum->hex != published->hex)
        throw Error(ErrorCode::VerificationFailed,
                    fmt::format("The given sha256 differs from the one {} publishes.", distribution.name));
    expectation.checksum = published;
    if (expectation.verification.method == "none")
        expectation.verification.method = "checksum";
    return expectation;
}

// What bred-machined-unpack reports, into the job: its log lines, its way
// through an image's layers (the last 5 % of the progress), and the device
// nodes it made, as paths under `workPath`.
HelperProcess::RecordHandler unpackRecordHandler(JobContext& job, const std::filesystem::path& workPath,
                                                 std::vector<std::filesystem::path>& deviceNodes)
{
    return [&job, workPath, &deviceNodes](const UnpackRecord& record) {
        if (const auto* log = std::get_if<UnpackLog>(&record))
            job.log(LOG_INFO, log->line);
        else if (const auto* progress = std::get_if<UnpackProgress>(&record))
            job.setProgress(0.95 + 0.05 * double(progress->done) / double(progress->total));
        else if (const auto* node = std::get_if<UnpackDeviceNode>(&record))
            deviceNodes.push_back(workPath / node->path);
    };
}

std::filesystem::path unpackHelper() { return HelperProcess::besideDaemon("bred-machined-unpack"); }

// bred-machined-unpack's arguments: confined to the work directory, at most
// `maxTreeBytes` unpacked, `task` (see daemon/helpers/bred-machined-unpack.cpp).
std::vector<std::string> unpackArguments(const std::filesystem::path& workPath, std::uint64_t maxTreeBytes,
                                         std::vector<std::string> task)
{
    std::vector<std::string> arguments{workPath.string(), std::to_string(maxTreeBytes)};
    arguments.insert(arguments.end(), task.begin(), task.end());
    return arguments;
}

// Mounts the root partition of the disk image (`imageFd`, named disk.raw in
// `unpackedFd`) read-only inside the work directory, where the helper copies
// its tree into "tree"; unmounted again on return, failure or cancel.
std::string copyDiskImageTree(int workFd, const std::filesystem::path& workPath, int unpackedFd, UniqueFd imageFd,
                              const GptPartition& partition, std::uint64_t maxTreeBytes,
                              const HelperProcess::RecordHandler& onRecord, JobContext& job)
{
    // The helper has the run of the work directory: a name of the image there
    // would let it write into the filesystem while the kernel has it mounted.
    // The loop device and our descriptor keep the unnamed file.
    struct stat image { };
    if (unlinkat(unpackedFd, "disk.raw", 0) < 0 || fstat(imageFd.get(), &image) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot unlink disk.raw: {}", std::strerror(errno)));
    if (image.st_nlink != 0)
        throw Error(ErrorCode::BadArchive, "The disk image has another name in the unpacked archive; refusing it.");
    // Visible in the helper's file system, as it sees the work directory, and as read-only as here.
    constexpr const char* mountPoint = "disk-root";
    if (mkdirat(workFd, mountPoint, 0700) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot create {}: {}", mountPoint, std::strerror(errno)));
    PartitionMount mounted(imageFd.get(), partition, workPath / mountPoint);
    job.log(LOG_INFO, fmt::format("Copying the tree out of partition {} of disk.raw.", partition.number));
    makeTreeDirectory(workFd, "tree");
    // Ended before the partition is unmounted.
    HelperProcess copier(unpackHelper(), unpackArguments(workPath, maxTreeBytes, {"copy", mountPoint, "tree"}),
                         HelperProcess::Stdio{}, onRecord);
    if (!copier.wait(job.cancelFd()))
        throw JobCanceled{};
    return "tree";
}

// The directory of the OS tree inside what was unpacked, after the layout step.
// Device nodes unpacked are added to `deviceNodes`.
std::string applyLayout(ArchiveLayout layout, int workFd, const std::filesystem::path& workPath,
                        const std::string& unpacked, const std::string& nativeArchitecture,
                        const std::string& treeArchitecture, std::uint64_t maxTreeBytes,
                        std::vector<std::filesystem::path>& deviceNodes, JobContext& job)
{
    UniqueFd unpackedFd(openat(workFd, unpacked.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    auto entries = listDirectory(unpackedFd.get());
    auto has = [&](const std::string& name) {
        return std::any_of(entries.begin(), entries.end(), [&](const auto& e) { return e.name == name; });
    };
    if (layout == ArchiveLayout::Detect) {
        if (has("oci-layout") || (has("manifest.json") && has("repositories")))
            layout = ArchiveLayout::Oci;
        else if (entries.size() == 1 && entries[0].name == "disk.raw")
            layout = ArchiveLayout::DiskImage;
        else if (std::any_of(entries.begin(), entries.end(),
                             [](const auto& e) { return e.isDirectory && e.name.starts_with("root."); }) &&
                 !has("etc") && !has("usr"))
            layout = ArchiveLayout::Bootstrap;
        else
            layout = ArchiveLayout::Rootfs;
    }
    switch (layout) {
    case ArchiveLayout::Detect:
    case ArchiveLayout::Rootfs:
        return unpacked;
    case ArchiveLayout::Bootstrap:
        for (const auto& entry : entries)
            if (entry.isDirectory && entry.name.starts_with("root.")) {
                job.log(LOG_INFO, fmt::format("Using {}/ of the bootstrap archive.", entry.name));
                return unpacked + "/" + entry.name;
            }
        throw Error(ErrorCode::BadArchive, "The bootstrap archive has no root.<arch>/ directory.");
    case ArchiveLayout::Oci: {
        job.log(LOG_INFO, "Unpacking the image's layers.");
        makeTreeDirectory(workFd, "layers");
        HelperProcess unpacker(
            unpackHelper(), unpackArguments(workPath, maxTreeBytes, {"layers", unpacked, "layers", nativeArchitecture}),
            HelperProcess::Stdio{}, unpackRecordHandler(job, workPath, deviceNodes));
        if (!unpacker.wait(job.cancelFd()))
            throw JobCanceled{};
        return "layers";
    }
    case ArchiveLayout::DiskImage: {
        UniqueFd image = openRegularFileInRoot(unpackedFd.get(), "disk.raw");
        if (!image)
            throw Error(ErrorCode::BadArchive, "The archive has no disk.raw disk image (a regular file).");
        // The helper parses the partition table; PartitionMount checks what it reports against the image.
        std::optional<GptPartition> root;
        auto onRecord = unpackRecordHandler(job, workPath, deviceNodes);
        HelperProcess reader(unpackHelper(),
                             unpackArguments(workPath, maxTreeBytes, {"disk", unpacked, treeArchitecture}),
                             HelperProcess::Stdio{}, [&root, onRecord](const UnpackRecord& record) {
                                 const auto* reported = std::get_if<UnpackPartition>(&record);
                                 if (!reported)
                                     onRecord(record);
                                 else if (root)
                                     throw Error(ErrorCode::Failed, "the unpacking helper sent two partitions");
                                 else
                                     root = reported->partition;
                             });
        if (!reader.wait(job.cancelFd()))
            throw JobCanceled{};
        if (!root)
            throw Error(ErrorCode::Failed, "the unpacking helper reported no root partition of disk.raw");
        const GptPartition partition = *root;
        return copyDiskImageTree(workFd, workPath, unpackedFd.get(), std::move(image), partition, maxTreeBytes,
                                 onRecord, job);
    }
    }
    throw Error(ErrorCode::Failed, "unknown archive layout");
}

// A rootfs needs device nodes only in /dev (where nspawn mounts its own
// anyway); one elsewhere can only be a way to a host device for whoever
// reaches it, so it is left out, with a note.
void dropDeviceNodesOutsideDev(int treeFd, const std::filesystem::path& treePath,
                               const std::vector<std::filesystem::path>& nodes, JobContext& job)
{
    constexpr std::size_t namedNotes = 10;
    std::size_t dropped = 0;
    for (const auto& node : nodes) {
        auto relative = node.lexically_relative(treePath);
        if (relative.empty() || *relative.begin() == "..")
            continue; // not in the tree: it goes with the work directory
        if (*relative.begin() == "dev" && std::distance(relative.begin(), relative.end()) > 1)
            continue;
        std::string parentPath = relative.parent_path().string();
        std::string name = relative.filename().string();
        UniqueFd parent = openInRoot(treeFd, parentPath.empty() ? "." : parentPath, O_PATH | O_DIRECTORY);
        struct stat st { };
        // A later layer may have replaced it, or a whiteout removed it.
        if (!parent || fstatat(parent.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 ||
            !(S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode)))
            continue;
        if (unlinkat(parent.get(), name.c_str(), 0) < 0)
            throw Error(ErrorCode::Failed, fmt::format("cannot remove the device node /{} from the tree: {}",
                                                       relative.string(), std::strerror(errno)));
        if (++dropped <= namedNotes)
            job.log(LOG_NOTICE, fmt::format("Left out the device node /{}: device nodes are kept only under /dev.",
                                            relative.string()));
    }
    if (dropped > namedNotes)
        job.log(LOG_NOTICE, fmt::format("Left out {} device nodes outside /dev in all.", dropped));
}

// Containers made from the template should resolve names: systemd-nspawn copies
// the host's resolv.conf in at start, but only into a regular file or a missing
// one, never through a symlink that dangles inside the tree.
void prepareResolvConf(int treeFd, JobContext& job)
{
    // etc itself is the archive's: resolved inside the tree like every path.
    UniqueFd etc = openInRoot(treeFd, "etc", O_PATH | O_DIRECTORY);
    struct stat st { };
    if (!etc || fstatat(etc.get(), "resolv.conf", &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISLNK(st.st_mode))
        return;
    if (openInRoot(treeFd, "etc/resolv.conf", O_PATH))
        return; // resolves inside the tree: the tree's own resolver setup
    replaceFileInRoot(treeFd, "etc/resolv.conf", "", FinalSymlink::Replace);
    job.log(LOG_INFO, "Replaced the dangling /etc/resolv.conf symlink with a file, so containers get the host's "
                      "DNS settings at start.");
}

} // namespace

std::optional<VerifyMode> verifyModeFromName(std::string_view name)
{
    if (name == "no")
        return VerifyMode::No;
    if (name == "checksum")
        return VerifyMode::Checksum;
    if (name == "signature")
        return VerifyMode::Signature;
    return std::nullopt;
}

void TemplateInstaller::install(TemplateRequest& request, JobContext& job) const
{
    job.setStage("download");
    resolveLatest(request, limits_, job);
    Expectation expectation = prepareVerification(request, limits_, job);
    job.throwIfCanceled();

    const int machinesFd = store_.directoryFd();
    TemporaryTree work(machinesFd, "create-" + request.name);
    UniqueFd workFd(openat(machinesFd, work.name().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const std::string unpacked = "unpacked";
    makeTreeDirectory(workFd.get(), unpacked);
    const auto workPath = store_.directory() / work.name();

    // The archive streams through a pipe into bred-machined-unpack while it
    // downloads: no copy of it lands on disk, all run at once, and the
    // untrusted bytes are parsed only in confined processes. Writes never
    // block, so a helper that stops reading cannot hold up a cancel.
    HelperPipe archivePipe = makeHelperPipe(PipeDirection::ToHelper);
    UniqueFd& writeEnd = archivePipe.daemonEnd;
    std::vector<std::filesystem::path> deviceNodes;
    HelperProcess unpacker(unpackHelper(), unpackArguments(workPath, limits_.maxTreeBytes, {"archive", unpacked}),
                           HelperProcess::Stdio{archivePipe.helperEnd.get(), -1},
                           unpackRecordHandler(job, workPath, deviceNodes));
    archivePipe.helperEnd.reset(); // its exit now makes a write fail with EPIPE

    // The source: the caller's descriptor, or bred-machined-download's output.
    std::optional<DownloadProcess> download;
    UniqueFd callerArchive;
    std::uint64_t fileSize = 0;
    if (request.archiveFd) {
        struct stat st { };
        if (fstat(request.archiveFd.get(), &st) == 0 && S_ISREG(st.st_mode))
            fileSize = std::uint64_t(st.st_size);
        callerArchive = nonBlockingReader(request.archiveFd.get());
        request.archiveFd.reset();
    } else {
        std::string url = request.distribution
                              ? Catalog::resolve(*request.distribution, request.architecture).archiveUrl
                              : request.url;
        job.log(LOG_INFO, fmt::format("Downloading {}", url));
        download.emplace(DownloadRequest{url, limits_.download},
                         [&job](const std::string& line) { job.log(LOG_WARNING, line); });
    }

    std::optional<Hasher> hasher;
    if (expectation.checksum)
        hasher.emplace(expectation.checksum->algorithm);
    std::uint64_t done = 0;
    auto inspect = [&](const char* data, std::size_t size) {
        if (hasher)
            hasher->update(data, size);
        if (expectation.archiveSignature)
            expectation.archiveSignature->feed(data, size);
        done += size;
        const std::uint64_t total = download ? download->announcedSize() : fileSize;
        job.setBytes(done, total);
        job.setProgress(total ? double(done) / double(total) * 0.95 : -1.0);
    };
    const FeedEnd end =
        feedUnpacker(download ? download->bodyFd() : callerArchive.get(), writeEnd.get(), job.cancelFd(), inspect);
    writeEnd.reset();
    if (end == FeedEnd::Canceled)
        throw JobCanceled{}; // both helpers are stopped on the way out
    // A failed download ends the body early: its own error says more than the
    // unpacker's about a cut-off archive.
    if (download && end == FeedEnd::Complete && !download->wait(job.cancelFd()))
        throw JobCanceled{};
    download.reset();
    if (!unpacker.wait(job.cancelFd()))
        throw JobCanceled{};

    job.setStage("verify");
    if (hasher) {
        auto actual = hasher->finish();
        if (actual != expectation.checksum->hex)
            throw Error(ErrorCode::VerificationFailed,
                        fmt::format("The archive's checksum is {}, but {} was expected: it is corrupt or was "
                                    "tampered with. Nothing was installed.",
                                    actual, expectation.checksum->hex));
        job.log(LOG_INFO, "Checksum verified.");
    }
    if (expectation.archiveSignature) {
        expectation.verification = {"signature", expectation.archiveSignature->finish()};
        job.log(LOG_INFO, fmt::format("Archive signature verified (key {}).", expectation.verification.key));
    }

    job.setStage("extract");
    job.throwIfCanceled();
    auto layout = request.distribution ? request.distribution->layout : ArchiveLayout::Detect;
    std::string nativeArchitecture;
    if (request.distribution)
        nativeArchitecture = request.distribution->architectures.at(request.architecture);
    const std::string treePath = applyLayout(layout, workFd.get(), workPath, unpacked, nativeArchitecture,
                                             request.architecture.empty() ? hostArchitecture() : request.architecture,
                                             limits_.maxTreeBytes, deviceNodes, job);

    job.setStage("finalize");
    UniqueFd treeFd(openat(workFd.get(), treePath.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!treeFd || !readOsRelease(treeFd.get()))
        throw Error(ErrorCode::BadArchive,
                    "The archive does not hold an OS tree: there is no etc/os-release or usr/lib/os-release.");
    dropDeviceNodesOutsideDev(treeFd.get(), workPath / treePath, deviceNodes, job);
    prepareResolvConf(treeFd.get(), job);
    auto architecture = detectTreeArchitecture(treeFd.get());
    job.log(LOG_INFO, fmt::format("The tree's architecture is {}.", architecture.empty() ? "unknown" : architecture));
    if (!request.architecture.empty() && !architecture.empty() && architecture != request.architecture)
        throw Error(ErrorCode::UnsupportedArchitecture,
                    fmt::format("The archive holds a {} tree, not {} as asked (option arch).", architecture,
                                request.architecture));
    try {
        recordTreeVerification(treeFd.get(), expectation.verification);
    } catch (const Error& error) {
        job.log(LOG_WARNING, fmt::format("'{}' will not show how it was verified: {}", request.name, error.what()));
    }
    job.enterPointOfNoReturn();

    std::optional<PendingTemplate> pending;
    if (!request.asContainer)
        pending.emplace(store_, request.name, treeFd.get());
    std::string source = work.name() + "/" + treePath;
    if (renameat2(machinesFd, source.c_str(), machinesFd, request.name.c_str(), RENAME_NOREPLACE) < 0) {
        if (errno != EEXIST)
            throw Error(ErrorCode::Failed, fmt::format("cannot install '{}': {}", request.name, std::strerror(errno)));
        if (!request.force)
            throw refusal::machineExists(request.name, true);
        // Swap the old tree out in one step; it then goes with the work directory.
        UniqueFd oldFd(openat(machinesFd, request.name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
        if (oldFd && isTreeReadOnly(oldFd.get()))
            setTreeReadOnly(oldFd.get(), false);
        if (renameat2(machinesFd, source.c_str(), machinesFd, request.name.c_str(), RENAME_EXCHANGE) < 0)
            throw Error(ErrorCode::Failed, fmt::format("cannot replace '{}': {}", request.name, std::strerror(errno)));
        job.log(LOG_INFO, fmt::format("Replaced the previous '{}'.", request.name));
    }
    if (request.asContainer) {
        // A new name: systemd reads the drop-in when machinectl first asks for its unit, no reload needed.
        store_.editSettings(request.name, [](NspawnSettingsEditor&) {});
        job.setProgress(1.0);
        job.log(LOG_INFO, fmt::format("Container '{}' is ready.", request.name));
        return;
    }
    try {
        setTreeReadOnly(treeFd.get(), true);
    } catch (const Error& error) {
        job.log(LOG_WARNING, fmt::format("'{}' could not be marked read-only, so it is listed as a container: {}",
                                         request.name, error.what()));
    }
    job.setProgress(1.0);
    job.log(LOG_INFO, fmt::format("Template '{}' is ready.", request.name));
}

} // namespace bred
