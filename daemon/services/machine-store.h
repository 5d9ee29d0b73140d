// The machines directory: which trees are machines, what they are, and the
// operations on whole trees (rename, remove) with their settings files.
#pragma once

#include "config.h"
#include "container-network.h"
#include "nspawn-settings.h"
#include "os-tree.h"
#include "unique-fd.h"

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace bred {

class JobContext;

enum class MachineClass { Container, Template };
std::string_view machineClassName(MachineClass machineClass);

struct MachineInfo {
    std::string name;
    std::filesystem::path directory;
    MachineClass machineClass = MachineClass::Container;
    bool readOnly = false;
    OsRelease osRelease;
    std::string architecture;
    std::uint64_t creationTimestamp = 0;
    std::optional<TreeVerification> verification; // templates we downloaded only
    std::vector<BindMount> binds;
    NetworkSettings network;
    ResourceLimits limits;                            // from the settings file
    std::optional<ContainerNetwork> containerNetwork; // the host0 file we wrote, if any
    bool enabled = false;
};

class MachineStore {
public:
    explicit MachineStore(const Config& config);

    const std::filesystem::path& directory() const { return config_.machinesDirectory; }
    // An fd of the machines directory, created if missing.
    int directoryFd() const { return directoryFd_.get(); }

    // Directory names that could be machines: valid machine names, not hidden.
    std::vector<std::string> candidateNames() const;
    // The machine called `name`, or nullopt if there is no OS tree under that name.
    std::optional<MachineInfo> inspect(const std::string& name) const;

    std::filesystem::path settingsFile(const std::string& name) const;
    // The settings file's text ("" when there is none), and its atomic replacement.
    std::string readSettings(const std::string& name) const;
    // The resource limits the settings file keeps for the machine.
    ResourceLimits limits(const std::string& name) const;
    // Changes the settings file with `edit`, then states in it the settings that
    // make `machinectl start` give the container that `bredmachine start` gives
    // (NspawnSettingsEditor::addStartSettings), and writes the drop-in that
    // confines machinectl's unit as ours, with the limits the file keeps
    // (machinectlUnitDropIn). Writes only the files whose text changes. True
    // when the drop-in changed: systemd must reload to see it.
    bool editSettings(const std::string& name, const std::function<void(NspawnSettingsEditor&)>& edit) const;
    // Gives every container made before the daemon stated its start settings
    // those settings (editSettings with no edit). Skips a settings file or drop-in
    // that is not a regular file: a person put it there. Returns what it did, one
    // line each, and whether systemd must reload.
    std::vector<std::string> addMissingStartSettings(bool& reloadNeeded) const;

    // Renames the tree and its settings file. Throws NoSuchMachine / AlreadyExists.
    void rename(const std::string& name, const std::string& newName) const;
    // Removes the tree and its settings file as a job: first the tree is moved
    // to a hidden name (after that the removal cannot be canceled), then deleted.
    void remove(const std::string& name, JobContext& job) const;
    // Puts right what a daemon killed mid-job left behind, before anything else
    // looks at the machines: finishes templates installed but not yet marked
    // read-only, drops the settings of machines whose removal had begun, and
    // deletes hidden temporary trees and files. Returns what it did, one line each.
    std::vector<std::string> recoverInterruptedJobs() const;

private:
    std::filesystem::path machinectlDropIn(const std::string& name) const;
    void removeMachinectlDropIn(const std::string& name) const;

    friend class PendingTemplate;
    Config config_;
    UniqueFd directoryFd_;
};

// Lives while a tree that is to be a template is renamed into place and marked
// read-only: a marker beside the machines records which tree (by name, inode
// and birth time), so that recoverInterruptedJobs() marks it read-only if the
// daemon is killed in between.
class PendingTemplate {
public:
    PendingTemplate(const MachineStore& store, const std::string& name, int treeFd);
    ~PendingTemplate();
    PendingTemplate(const PendingTemplate&) = delete;
    PendingTemplate& operator=(const PendingTemplate&) = delete;

private:
    int directoryFd_;
    std::string marker_;
};

} // namespace bred
