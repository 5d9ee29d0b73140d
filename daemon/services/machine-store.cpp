#include "machine-store.h"

#include "atomic-file.h"
#include "boot-enablement.h"
#include "directory-entries.h"
#include "errors.h"
#include "in-root.h"
#include "job.h"
#include "names.h"
#include "nspawn-command.h"
#include "refusals.h"
#include "temporary-tree.h"
#include "tree-removal.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fcntl.h>
#include <unistd.h>
#include <fmt/format.h>
#include <algorithm>
#include <fstream>
#include <random>
#include <sstream>
#include <sys/stat.h>
#include <syslog.h>

namespace bred {

// The purpose of a tree Remove moved aside: "remove-NAME" (temporary-tree.h).
constexpr std::string_view removalPurpose = "remove-";
namespace {

constexpr std::size_t maxSettingsFileSize = std::size_t{1024} * 1024;

std::optional<std::string> readSmallFile(const std::filesystem::path& path)
{
    std::ifstream file(path);
    if (!file)
        return std::nullopt;
    std::ostringstream text;
    text << file.rdbuf();
    std::string content = text.str();
    if (content.size() > maxSettingsFileSize)
        return std::nullopt;
    return content;
}

} // namespace

std::string_view machineClassName(MachineClass machineClass)
{
    return machineClass == MachineClass::Template ? "template" : "container";
}

MachineStore::MachineStore(const Config& config) : config_(config)
{
    std::error_code error;
    std::filesystem::create_directories(config_.machinesDirectory, error);
    directoryFd_ = UniqueFd(open(config_.machinesDirectory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!directoryFd_)
        throw Error(ErrorCode::Failed, fmt::format("cannot open the machines directory {}: {}",
                                                   config_.machinesDirectory.string(), std::strerror(errno)));
}

std::vector<std::string> MachineStore::candidateNames() const
{
    std::vector<std::string> names;
    for (const auto& entry : listDirectory(directoryFd_.get()))
        if (entry.isDirectory && entry.name.front() != '.' && isValidMachineName(entry.name))
            names.push_back(entry.name);
    return names;
}

std::optional<MachineInfo> MachineStore::inspect(const std::string& name) const
{
    if (!isValidMachineName(name))
        return std::nullopt;
    UniqueFd treeFd(openat(directoryFd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!treeFd)
        return std::nullopt;
    auto osRelease = readOsRelease(treeFd.get());
    if (!osRelease)
        return std::nullopt;

    MachineInfo info;
    info.name = name;
    info.directory = config_.machinesDirectory / name;
    info.readOnly = isTreeReadOnly(treeFd.get());
    info.machineClass = info.readOnly ? MachineClass::Template : MachineClass::Container;
    info.osRelease = std::move(*osRelease);
    info.architecture = detectTreeArchitecture(treeFd.get());
    info.creationTimestamp = treeCreationTimestamp(treeFd.get());
    if (info.machineClass == MachineClass::Template)
        info.verification = readTreeVerification(treeFd.get());
    if (auto settingsText = readSmallFile(settingsFile(name))) {
        auto settings = parseNspawnSettings(*settingsText);
        info.binds = std::move(settings.binds);
        info.network = std::move(settings.network);
        info.limits = settings.limits;
    }
    if (auto host0 = readFileInRoot(treeFd.get(), host0NetworkPath, std::size_t{64} * 1024))
        info.containerNetwork = parseHost0NetworkFile(*host0);
    info.enabled = BootEnablement(config_.unitDirectory).isEnabled(name);
    return info;
}

std::filesystem::path MachineStore::settingsFile(const std::string& name) const
{
    return config_.settingsDirectory / (name + ".nspawn");
}

std::string MachineStore::readSettings(const std::string& name) const
{
    return readSmallFile(settingsFile(name)).value_or("");
}

ResourceLimits MachineStore::limits(const std::string& name) const
{
    return parseNspawnSettings(readSettings(name)).limits;
}

std::filesystem::path MachineStore::machinectlDropIn(const std::string& name) const
{
    return config_.unitDirectory / (machinectlUnitName(name) + ".d") / "50-bred-machined.conf";
}

void MachineStore::removeMachinectlDropIn(const std::string& name) const
{
    auto dropIn = machinectlDropIn(name);
    ::unlink(dropIn.c_str());
    ::rmdir(dropIn.parent_path().c_str()); // only when nothing else is in it
}

bool MachineStore::editSettings(const std::string& name, const std::function<void(NspawnSettingsEditor&)>& edit) const
{
    std::string before = readSettings(name);
    NspawnSettingsEditor settings(before);
    edit(settings);
    settings.addStartSettings();
    if (settings.text() != before)
        writeFileAtomically(settingsFile(name), settings.text());
    NspawnConfinement confinement;
    confinement.limits = parseNspawnSettings(settings.text()).limits;
    std::string dropIn = machinectlUnitDropIn(confinement);
    if (readSmallFile(machinectlDropIn(name)) == dropIn)
        return false;
    writeFileAtomically(machinectlDropIn(name), dropIn);
    return true;
}

std::vector<std::string> MachineStore::addMissingStartSettings(bool& reloadNeeded) const
{
    std::vector<std::string> done;
    reloadNeeded = false;
    for (const auto& name : candidateNames()) {
        auto info = inspect(name);
        if (!info || info->machineClass != MachineClass::Container)
            continue;
        bool foreign = false;
        for (const auto& path : {settingsFile(name), machinectlDropIn(name)}) {
            struct stat st { };
            if (lstat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode)) {
                done.push_back(fmt::format("left '{}' as it is: {} is not a regular file", name, path.string()));
                foreign = true;
            }
        }
        if (foreign)
            continue;
        std::string before = readSettings(name);
        try {
            if (editSettings(name, [](NspawnSettingsEditor&) {}))
                reloadNeeded = true;
            else if (readSettings(name) == before)
                continue;
            done.push_back(fmt::format("stated the start settings of '{}' in {} and {}", name,
                                       settingsFile(name).string(), machinectlDropIn(name).string()));
        } catch (const Error& error) {
            done.push_back(fmt::format("could not state the start settings of '{}': {}", name, error.what()));
        }
    }
    return done;
}

void MachineStore::rename(const std::string& name, const std::string& newName) const
{
    UniqueFd treeFd(openat(directoryFd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!treeFd || !readOsRelease(treeFd.get()))
        throw refusal::noSuchMachine(name);
    auto oldSettings = settingsFile(name), newSettings = settingsFile(newName);
    std::error_code error;
    if (std::filesystem::exists(newSettings, error))
        throw Error(ErrorCode::AlreadyExists,
                    fmt::format("Settings for a machine '{}' already exist in {}; remove that file or "
                                "choose another name.",
                                newName, newSettings.string()));

    // An immutable directory cannot be renamed: lift the attribute for the rename only.
    bool immutable = isTreeReadOnly(treeFd.get());
    if (immutable)
        setTreeReadOnly(treeFd.get(), false);
    int renamed = renameat2(directoryFd_.get(), name.c_str(), directoryFd_.get(), newName.c_str(), RENAME_NOREPLACE);
    int renameErrno = errno;
    if (immutable)
        setTreeReadOnly(treeFd.get(), true);
    if (renamed < 0) {
        if (renameErrno == EEXIST)
            throw refusal::machineExists(newName);
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot rename '{}' to '{}': {}", name, newName, std::strerror(renameErrno)));
    }
    if (std::filesystem::exists(oldSettings, error) &&
        ::renameat2(AT_FDCWD, oldSettings.c_str(), AT_FDCWD, newSettings.c_str(), RENAME_NOREPLACE) < 0) {
        int settingsErrno = errno;
        // Keep tree and settings together: undo the tree's rename.
        if (immutable)
            setTreeReadOnly(treeFd.get(), false);
        renameat2(directoryFd_.get(), newName.c_str(), directoryFd_.get(), name.c_str(), RENAME_NOREPLACE);
        if (immutable)
            setTreeReadOnly(treeFd.get(), true);
        throw Error(ErrorCode::Failed, fmt::format("cannot rename the settings file {}: {}", oldSettings.string(),
                                                   std::strerror(settingsErrno)));
    }
    removeMachinectlDropIn(name);
}

void MachineStore::remove(const std::string& name, JobContext& job) const
{
    job.setStage("remove");
    UniqueFd treeFd(openat(directoryFd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!treeFd || !readOsRelease(treeFd.get()))
        throw refusal::noSuchMachine(name);
    std::uint64_t total = countTreeEntries(treeFd.get()) + 1;
    job.throwIfCanceled();

    bool immutable = isTreeReadOnly(treeFd.get());
    if (immutable)
        setTreeReadOnly(treeFd.get(), false);
    job.enterPointOfNoReturn();
    auto aside = TemporaryTree::moveAside(directoryFd_.get(), name, std::string(removalPurpose) + name);
    if (!aside) {
        int renameErrno = errno;
        if (immutable)
            setTreeReadOnly(treeFd.get(), true);
        throw Error(ErrorCode::Failed, fmt::format("cannot remove '{}': {}", name, std::strerror(renameErrno)));
    }
    auto settings = settingsFile(name);
    if (::unlink(settings.c_str()) == 0)
        job.log(LOG_INFO, fmt::format("Removed settings file {}.", settings.string()));
    else if (errno != ENOENT)
        job.log(LOG_WARNING,
                fmt::format("Could not remove settings file {}: {}", settings.string(), std::strerror(errno)));
    removeMachinectlDropIn(name);

    std::uint64_t removed = 0;
    aside->remove([&] {
        if (++removed % 256 == 0)
            job.setProgress(double(removed) / double(total));
    });
    job.log(LOG_INFO, fmt::format("Removed machine '{}' ({} entries).", name, removed + 1));
}

namespace {

constexpr std::string_view pendingTemplatePrefix = ".#bred-template-";

// The identity of a tree that survives a rename: inode and birth time.
std::string treeIdentity(int treeFd)
{
    struct stat st { };
    if (fstat(treeFd, &st) < 0)
        return {};
    return fmt::format("{} {}", st.st_ino, treeCreationTimestamp(treeFd));
}

} // namespace

PendingTemplate::PendingTemplate(const MachineStore& store, const std::string& name, int treeFd) :
    directoryFd_(store.directoryFd()),
    marker_(fmt::format("{}{}", pendingTemplatePrefix, randomSuffix()))
{
    std::string record = name + "\n" + treeIdentity(treeFd) + "\n";
    UniqueFd file(openat(directoryFd_, marker_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!file || write(file.get(), record.data(), record.size()) != ssize_t(record.size()) || fsync(file.get()) < 0)
        throw Error(ErrorCode::Failed,
                    fmt::format("cannot record the template being installed in {}: {}", marker_, std::strerror(errno)));
}

PendingTemplate::~PendingTemplate() { unlinkat(directoryFd_, marker_.c_str(), 0); }

std::vector<std::string> MachineStore::recoverInterruptedJobs() const
{
    std::vector<std::string> done;
    auto entries = listDirectory(directoryFd_.get());
    // First what the leftovers tell, while they are still there.
    for (const auto& entry : entries) {
        if (entry.name.starts_with(pendingTemplatePrefix) && !entry.isDirectory) {
            UniqueFd file(openat(directoryFd_.get(), entry.name.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC));
            char buffer[512];
            ssize_t n = file ? read(file.get(), buffer, sizeof buffer - 1) : -1;
            std::istringstream record(std::string(buffer, std::size_t(std::max<ssize_t>(n, 0))));
            std::string name, identity;
            std::getline(record, name);
            std::getline(record, identity);
            if (!isValidMachineName(name))
                continue;
            UniqueFd treeFd(openat(directoryFd_.get(), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
            if (treeFd && treeIdentity(treeFd.get()) == identity && !isTreeReadOnly(treeFd.get())) {
                try {
                    setTreeReadOnly(treeFd.get(), true);
                    done.push_back(fmt::format("finished installing template '{}': marked it read-only", name));
                } catch (const Error& error) {
                    done.push_back(fmt::format("could not mark template '{}' read-only: {}", name, error.what()));
                }
            }
        } else if (auto purpose = TemporaryTree::purposeOf(entry.name);
                   purpose && purpose->starts_with(removalPurpose) && entry.isDirectory) {
            // The tree was moved aside, its settings may not be gone yet.
            const std::string name = purpose->substr(removalPurpose.size());
            struct stat st { };
            if (isValidMachineName(name) && fstatat(directoryFd_.get(), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0 &&
                ::unlink(settingsFile(name).c_str()) == 0) {
                removeMachinectlDropIn(name);
                done.push_back(
                    fmt::format("removed {}, the settings of removed machine '{}'", settingsFile(name).string(), name));
            }
        }
    }
    auto swept = TemporaryTree::sweep(directoryFd_.get(), config_.machinesDirectory);
    done.insert(done.end(), swept.begin(), swept.end());
    // Files replaced whole are written beside their target under a hidden temporary name first.
    std::vector<std::filesystem::path> fileDirectories{config_.settingsDirectory, config_.unitDirectory};
    if (UniqueFd unitsFd{open(config_.unitDirectory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)})
        for (const auto& entry : listDirectory(unitsFd.get()))
            if (entry.isDirectory && entry.name.starts_with("systemd-nspawn@") && entry.name.ends_with(".service.d"))
                fileDirectories.push_back(config_.unitDirectory / entry.name);
    for (const auto& directory : fileDirectories) {
        UniqueFd dirFd(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!dirFd)
            continue;
        for (const auto& entry : listDirectory(dirFd.get()))
            if (!entry.isDirectory && entry.name.find(temporaryPrefix) != std::string::npos &&
                unlinkat(dirFd.get(), entry.name.c_str(), 0) == 0)
                done.push_back(fmt::format("removed {}", (directory / entry.name).string()));
    }
    return done;
}

} // namespace bred
