// One request per method of the Manager, parsed from plain values (the bus
// layer unpacks the message), and checked against the machines as they are.
// A handler checks before polkit is asked and again after, as the machines
// may have changed meanwhile: the same check both times.
#pragma once

#include "catalog.h"
#include "cloner.h"
#include "container-network.h"
#include "container-run.h"
#include "container-user.h"
#include "exporter.h"
#include "file-copy.h"
#include "machine-store.h"
#include "recipe.h"
#include "request-options.h"
#include "template-installer.h"
#include "unique-fd.h"

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bred {

// What the checks see of the machines at the moment they run.
class MachineStateView {
public:
    virtual ~MachineStateView() = default;
    // The machine called `name`, or nullptr.
    virtual const MachineInfo* find(const std::string& name) const = 0;
    virtual bool isRunning(const std::string& name) const = 0;
    // A job, or a hold, has the machine.
    virtual bool isHeld(const std::string& name) const = 0;
};

// Throws InvalidName.
void checkMachineName(const std::string& name);
// The machine called `name`; throws InvalidName or NoSuchMachine.
const MachineInfo& existingMachine(const std::string& name, const MachineStateView& state);

// Start, Enable, Disable, Remove: a machine and nothing else.
struct MachineRequest {
    std::string name;
};

// CreateTemplate (from a distribution of `catalog`, loaded only when `source`
// is no URL) and ImportTemplate (from `archive`).
TemplateRequest parseCreateTemplate(const std::string& name, const std::string& source, OptionMap options,
                                    const std::function<Catalog()>& catalog);
TemplateRequest parseImportTemplate(const std::string& name, UniqueFd archive, OptionMap options);
void checkTemplate(const TemplateRequest& request, const MachineStateView& state);

// ExportMachine: option `compression`; `archive` must be a regular file, pipe
// or socket open for writing (InvalidArgs otherwise).
ExportRequest parseExport(const std::string& name, UniqueFd archive, OptionMap options);
// A machine that is stopped (Busy while it runs) and that no job changes.
void checkExport(const ExportRequest& request, const MachineStateView& state);

CloneRequest parseClone(const std::string& source, const std::string& name, OptionMap options);
void checkClone(const CloneRequest& request, const MachineStateView& state);

struct ConvertRequest {
    std::string machine;
    Recipe recipe;
    std::vector<RecipeStep> steps;
};
// An empty `recipeId` is "bredos". `configured` holds the administrator's
// variables of each recipe, by id.
ConvertRequest parseConvert(const std::string& name, const std::string& recipeId, OptionMap options,
                            std::vector<Recipe> recipes, const std::map<std::string, RecipeVariables>& configured);

// Where a command (Run, AddUser, Convert) runs, as checkRun finds the machine.
struct RunTarget {
    std::filesystem::path directory;
    bool running = false;
    ResourceLimits limits;
};
// Throws when the machine cannot run commands: a template, or a foreign
// architecture without an emulator while it is stopped.
RunTarget checkRun(const std::string& machine, const MachineStateView& state);
// checkRun, after the recipe's own conditions (its OS, its architecture).
RunTarget checkConvert(const ConvertRequest& request, const MachineStateView& state);

MachineRequest parseStart(const std::string& name, OptionMap options);
// The tree to boot.
std::filesystem::path checkStart(const MachineRequest& request, const MachineStateView& state);

struct StopRequest {
    std::string name;
    bool force = false;
};
StopRequest parseStop(const std::string& name, OptionMap options);
void checkStop(const StopRequest& request, const MachineStateView& state);

// Reboot: the machine must run, and no job may hold it.
void checkReboot(const MachineRequest& request, const MachineStateView& state);

struct KillRequest {
    std::string name;
    std::string whom; // "leader" or "all"
    int signal = 0;
};
// Throws InvalidArgs unless `whom` is "leader" or "all" and `signal` is 1 to SIGRTMAX.
KillRequest parseKill(const std::string& name, const std::string& whom, int signal);
// The machine must run; a job holding it does not matter (Kill ends a hung start or stop).
void checkKill(const KillRequest& request, const MachineStateView& state);

// OpenLogin: the machine must run; a job holding it does not matter (a login does not change it).
void checkOpenLogin(const MachineRequest& request, const MachineStateView& state);

MachineRequest parseMachine(const std::string& name);
// The tree the boot unit is to start.
std::filesystem::path checkEnable(const MachineRequest& request, const MachineStateView& state);
void checkDisable(const MachineRequest& request, const MachineStateView& state);

struct BindRequest {
    std::string name;
    BindMount bind;
    bool makeSource = false; // create the host folder when missing
};
// An empty `destination` is `source`.
BindRequest parseBind(const std::string& name, const std::string& source, const std::string& destination,
                      OptionMap options);
void checkBind(const BindRequest& request, const MachineStateView& state);

struct UnbindRequest {
    std::string name;
    std::string destination;
};
UnbindRequest parseUnbind(const std::string& name, const std::string& destination);
void checkUnbind(const UnbindRequest& request, const MachineStateView& state);

struct NetworkRequest {
    std::string name;
    NetworkSettings hostSide;
    // What host0 gets inside; nullopt with mode 'host', which has no host0.
    std::optional<ContainerNetwork> containerSide;
};
NetworkRequest parseSetNetwork(const std::string& name, OptionMap settings);
void checkSetNetwork(const NetworkRequest& request, const MachineStateView& state);

struct AddUserRequest {
    std::string machine;
    std::string user;
    std::vector<std::string> groups;
    std::string shell;
    UserAddition addition;
};
AddUserRequest parseAddUser(const std::string& name, const std::string& user, OptionMap options);

// The request's command, user, environment and working directory, and the
// caller's descriptors; directory and running are checkRun's to fill in.
RunRequest parseRun(const std::string& name, std::vector<std::string> argv, UniqueFd stdinFd, UniqueFd stdoutFd,
                    UniqueFd stderrFd, OptionMap options);

void checkRemove(const MachineRequest& request, const MachineStateView& state);

struct LimitsRequest {
    std::string name;
    // The limits given, by key (resourceLimitKeys); 0 unsets one.
    std::map<std::string, std::uint64_t> given;
};
// Throws InvalidArgs for an unknown key, a value of the wrong type (CPUQuota
// 'u', the others 't') or out of range.
LimitsRequest parseSetLimits(const std::string& name, OptionMap limits);
// A container (NotSupported for a template) that no job holds (Busy).
void checkSetLimits(const LimitsRequest& request, const MachineStateView& state);
// `limits` with the request's given limits in place; the others as they were.
ResourceLimits appliedLimits(ResourceLimits limits, const LimitsRequest& request);

struct RenameRequest {
    std::string name;
    std::string newName;
};
RenameRequest parseRename(const std::string& name, const std::string& newName);
void checkRename(const RenameRequest& request, const MachineStateView& state);

// CopyTo and CopyFrom: `machinePath` inside, `hostPath` on the host, both
// absolute and normalized; the destination must not be "/". Option `replace` (b).
CopyRequest parseCopy(const std::string& name, CopyDirection direction, const std::string& hostPath,
                      const std::string& machinePath, OptionMap options);
// Fills in the tree and whether the machine runs: a template takes no files,
// and a stopped machine's copy holds it, so no other job may have it.
void checkCopy(CopyRequest& request, const MachineStateView& state);

} // namespace bred
