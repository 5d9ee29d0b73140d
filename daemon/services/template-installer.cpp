#include "template-installer.h"

#include "checksum.h"
#include "directory-entries.h"
#include "disk-image.h"
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
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

namespace bred {
namespace {

constexpr std::size_t maxChecksumFileSize = 4 << 20;
constexpr std::size_t maxSignatureSize = 1 << 20;

// How often a read from the caller's descriptor looks at a cancel.
constexpr int cancelCheckMilliseconds = 200;

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

// Reads what the caller's descriptor has, waiting at most until a cancel; 0 at the end.
std::size_t readArchive(int fd, char* buffer, std::size_t size, const std::function<bool()>& canceled)
{
    for (;;) {
        if (canceled())
            throw DownloadStopped{};
        ssize_t n = read(fd, buffer, size);
        if (n >= 0)
            return std::size_t(n);
        if (errno != EAGAIN && errno != EINTR)
            throw Error(ErrorCode::Failed, fmt::format("cannot read the archive: {}", std::strerror(errno)));
        pollfd entry{fd, POLLIN, 0};
        poll(&entry, 1, cancelCheckMilliseconds);
    }
}

struct Expectation {
    std::optional<ExpectedChecksum> checksum;
    std::unique_ptr<StreamingSignatureCheck> archiveSignature;
};

// Fetches and checks what the distribution publishes, before the archive.
Expectation prepareVerification(TemplateRequest& request, const InstallLimits& limits, JobContext& job,
                                const std::function<bool()>& canceled)
{
    Expectation expectation;
    VerifyMode wanted = request.verify.value_or(VerifyMode::Signature);
    if (!request.sha256.empty())
        expectation.checksum = ExpectedChecksum{HashAlgorithm::Sha256, request.sha256};
    if (wanted == VerifyMode::No) {
        job.log(LOG_WARNING, "Not verifying the archive, as asked (verify=no).");
        return expectation;
    }
    if (!request.distribution) {
        if (request.archiveFd) {
            if (!expectation.checksum)
                job.log(LOG_NOTICE, "The archive is not verified: no sha256 was given.");
            return expectation;
        }
        if (expectation.checksum)
            return expectation;
        // As importd does: a SHA256SUMS file beside the archive.
        auto slash = request.url.rfind('/');
        std::string sumsUrl = request.url.substr(0, slash + 1) + "SHA256SUMS";
        std::string fileName = request.url.substr(slash + 1);
        try {
            auto sums = downloadSmall(sumsUrl, limits.download, maxChecksumFileSize, canceled);
            expectation.checksum = findChecksum(ChecksumFormat::Sha256Sums, sums, fileName);
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
        job.log(LOG_NOTICE, fmt::format("Signature not checked: {}; checking the published checksum only.",
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
    std::string checksums = downloadSmall(source.checksumUrl, limits.download, maxChecksumFileSize, canceled);
    if (wanted == VerifyMode::Signature) {
        if (distribution.checksumFormat == ChecksumFormat::FedoraChecksum && distribution.signatureUrl.empty()) {
            checksums = verifyClearSigned(*keyring, checksums);
        } else if (!distribution.signatureCoversArchive) {
            auto signature = downloadSmall(source.signatureUrl, limits.download, maxSignatureSize, canceled);
            verifySignature(*keyring, signature, checksums);
        } else {
            auto signature = downloadSmall(source.signatureUrl, limits.download, maxSignatureSize, canceled);
            expectation.archiveSignature = std::make_unique<StreamingSignatureCheck>(*keyring, signature);
        }
        job.log(LOG_INFO, fmt::format("Signature checked with {}.", *keyring));
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
// `maxTreeBytes` unpacked, `task` (see daemon/unpack-helper/main.cpp).
std::vector<std::string> unpackArguments(const std::filesystem::path& workPath, std::uint64_t maxTreeBytes,
                                         std::vector<std::string> task)
{
    std::vector<std::string> arguments{workPath.string(), std::to_string(maxTreeBytes)};
    arguments.insert(arguments.end(), task.begin(), task.end());
    return arguments;
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
            -1, unpackRecordHandler(job, workPath, deviceNodes));
        if (!unpacker.wait(job.cancelFd()))
            throw JobCanceled{};
        return "layers";
    }
    case ArchiveLayout::DiskImage: {
        UniqueFd image = openRegularFileInRoot(unpackedFd.get(), "disk.raw");
        if (!image)
            throw Error(ErrorCode::BadArchive, "The archive has no disk.raw disk image (a regular file).");
        // The helper parses the partition table; copyPartitionTree checks what it reports against the image.
        std::optional<GptPartition> root;
        auto onRecord = unpackRecordHandler(job, workPath, deviceNodes);
        HelperProcess reader(unpackHelper(),
                             unpackArguments(workPath, maxTreeBytes, {"disk", unpacked, treeArchitecture}), -1,
                             [&root, onRecord](const UnpackRecord& record) {
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
        job.log(LOG_INFO, fmt::format("Copying the tree out of partition {} of disk.raw.", partition.number));
        makeTreeDirectory(workFd, "tree");
        copyPartitionTree(
            image.get(), partition, workPath / "tree", [&job] { return job.cancelRequested(); },
            [&deviceNodes](const std::filesystem::path& path) { deviceNodes.push_back(path); });
        return "tree";
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
    auto canceled = [&job] { return job.cancelRequested(); };
    job.setStage("download");
    Expectation expectation;
    try {
        expectation = prepareVerification(request, limits_, job, canceled);
    } catch (const DownloadStopped&) {
        throw JobCanceled{};
    }
    job.throwIfCanceled();

    const int machinesFd = store_.directoryFd();
    TemporaryTree work(machinesFd, "create-" + request.name);
    UniqueFd workFd(openat(machinesFd, work.name().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    const std::string unpacked = "unpacked";
    makeTreeDirectory(workFd.get(), unpacked);
    const auto workPath = store_.directory() / work.name();

    // The archive streams through a pipe into bred-machined-unpack while it
    // downloads: no copy of it lands on disk, both run at once, and the
    // untrusted bytes are parsed only in that confined process. Writes never
    // block, so a helper that stops reading cannot hold up a cancel.
    int pipeFds[2];
    if (pipe2(pipeFds, O_CLOEXEC) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    UniqueFd readEnd(pipeFds[0]), writeEnd(pipeFds[1]);
    fcntl(writeEnd.get(), F_SETPIPE_SZ, 1 << 20);
    fcntl(writeEnd.get(), F_SETFL, O_NONBLOCK);
    std::vector<std::filesystem::path> deviceNodes;
    HelperProcess unpacker(unpackHelper(), unpackArguments(workPath, limits_.maxTreeBytes, {"archive", unpacked}),
                           readEnd.get(), unpackRecordHandler(job, workPath, deviceNodes));
    readEnd.reset(); // the helper's end: its exit makes a write fail with EPIPE
    // Feeding stops on a cancel, or when the helper ended early (a bad archive,
    // a crash), also while the source is silent.
    auto stopFeeding = [&] { return canceled() || unpacker.hasEnded(); };

    std::optional<Hasher> hasher;
    if (expectation.checksum)
        hasher.emplace(expectation.checksum->algorithm);
    auto sink = [&](const char* data, std::size_t size) {
        if (hasher)
            hasher->update(data, size);
        if (expectation.archiveSignature)
            expectation.archiveSignature->feed(data, size);
        while (size > 0) {
            ssize_t n = write(writeEnd.get(), data, size);
            if (n > 0) {
                data += n;
                size -= std::size_t(n);
            } else if (n < 0 && errno == EAGAIN) {
                if (stopFeeding())
                    return false;
                pollfd entry{writeEnd.get(), POLLOUT, 0};
                poll(&entry, 1, cancelCheckMilliseconds);
            } else if (!(n < 0 && errno == EINTR)) {
                return false; // the helper stopped reading: its result says why
            }
        }
        return true;
    };
    auto progress = [&](std::uint64_t done, std::uint64_t total) {
        job.setBytes(done, total);
        job.setProgress(total ? double(done) / double(total) * 0.95 : -1.0);
    };
    std::exception_ptr sourceError;
    try {
        if (request.archiveFd) {
            struct stat st { };
            std::uint64_t total = fstat(request.archiveFd.get(), &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : 0;
            UniqueFd reader = nonBlockingReader(request.archiveFd.get());
            request.archiveFd.reset();
            std::uint64_t done = 0;
            std::vector<char> buffer(1 << 20);
            while (std::size_t n = readArchive(reader.get(), buffer.data(), buffer.size(), stopFeeding)) {
                if (!sink(buffer.data(), n))
                    throw DownloadStopped{};
                done += n;
                progress(done, total);
            }
        } else {
            std::string url = request.distribution
                                  ? Catalog::resolve(*request.distribution, request.architecture).archiveUrl
                                  : request.url;
            job.log(LOG_INFO, fmt::format("Downloading {}", url));
            DownloadCallbacks callbacks{sink, progress, stopFeeding,
                                        [&](const std::string& line) { job.log(LOG_WARNING, line); }};
            download(url, limits_.download, callbacks);
        }
    } catch (const DownloadStopped&) {
        // The helper stopped (its result says why) or the job was canceled.
    } catch (...) {
        sourceError = std::current_exception();
    }
    writeEnd.reset();
    if (job.cancelRequested()) {
        unpacker.stop();
        throw JobCanceled{};
    }
    if (sourceError) {
        unpacker.stop();
        std::rethrow_exception(sourceError);
    }
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
        expectation.archiveSignature->finish();
        job.log(LOG_INFO, "Archive signature verified.");
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
    job.enterPointOfNoReturn();

    PendingTemplate pending(store_, request.name, treeFd.get());
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
