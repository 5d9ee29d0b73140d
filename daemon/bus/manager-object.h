// org.bredos.machine1.Manager. Every mutating handler is: unpack, parse and
// check the request (services/machine-requests.h), authorize with polkit,
// check again (the machines may have changed meanwhile), call the service,
// reply; errors become D-Bus errors.
#pragma once

#include "job-registry.h"
#include "machine-registry.h"
#include "manager-adaptor.h"
#include "polkit-authority.h"
#include "cloner.h"
#include "container-lifecycle.h"
#include "container-run.h"
#include "machine-requests.h"
#include "machine-settings.h"
#include "recipe.h"
#include "template-installer.h"

#include "sdbus-compat.h"

namespace bred {

class ManagerObject final
    : public sdbus::AdaptorInterfaces<org::bredos::machine1::Manager_adaptor, sdbus::ObjectManager_adaptor> {
public:
    ManagerObject(sdbus::IConnection& bus, const Config& config, MachineStore& store, MachineRegistry& machines,
                  JobManager& jobs, JobRegistry& jobRegistry, PolkitAuthority& polkit, UnitManager& units);
    ~ManagerObject();

private:
    using Details = std::map<std::string, std::string>;
    // A method's reply, shared by the asynchronous work that sends it.
    using JobReply = std::shared_ptr<sdbus::Result<uint32_t, sdbus::ObjectPath>>;
    using DoneReply = std::shared_ptr<sdbus::Result<>>;

    std::vector<sdbus::Struct<std::string, std::string, std::string, sdbus::ObjectPath>> ListMachines() override;
    std::vector<
        sdbus::Struct<std::string, std::string, std::string, std::string, std::string, uint64_t, sdbus::ObjectPath>>
    ListMachinesEx(const uint64_t& flags) override;
    sdbus::ObjectPath GetMachine(const std::string& name) override;
    std::vector<sdbus::Struct<uint32_t, std::string, std::string, std::string, sdbus::ObjectPath>> ListJobs() override;
    std::vector<sdbus::Struct<std::string, std::string, std::string, std::string>> ListDistributions() override;
    std::vector<sdbus::Struct<std::string, std::string, std::string, bool>>
    ListDistributionReleases(const std::string& id) override;
    std::vector<sdbus::Struct<std::string, std::string>> ListRecipes() override;

    void CreateTemplate(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string source,
                        std::map<std::string, sdbus::Variant> options) override;
    void ImportTemplate(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, sdbus::UnixFd archive,
                        std::map<std::string, sdbus::Variant> options) override;
    void Clone(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string source, std::string name,
               std::map<std::string, sdbus::Variant> options) override;
    void ExportMachine(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, sdbus::UnixFd archive,
                       std::map<std::string, sdbus::Variant> options) override;
    void Convert(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string recipe,
                 std::map<std::string, sdbus::Variant> options) override;
    void Start(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
               std::map<std::string, sdbus::Variant> options) override;
    void Stop(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name,
              std::map<std::string, sdbus::Variant> options) override;
    void Enable(sdbus::Result<>&& result, std::string name) override;
    void Disable(sdbus::Result<>&& result, std::string name) override;
    void Reboot(sdbus::Result<>&& result, std::string name) override;
    void Kill(sdbus::Result<>&& result, std::string name, std::string whom, int32_t signal) override;
    void OpenLogin(sdbus::Result<sdbus::UnixFd, std::string>&& result, std::string name) override;
    void Bind(sdbus::Result<>&& result, std::string name, std::string source, std::string destination,
              std::map<std::string, sdbus::Variant> options) override;
    void Unbind(sdbus::Result<>&& result, std::string name, std::string destination) override;
    void SetNetwork(sdbus::Result<>&& result, std::string name,
                    std::map<std::string, sdbus::Variant> settings) override;
    void AddUser(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string user,
                 std::map<std::string, sdbus::Variant> options) override;
    void Run(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::vector<std::string> argv,
             sdbus::UnixFd stdinFd, sdbus::UnixFd stdoutFd, sdbus::UnixFd stderrFd,
             std::map<std::string, sdbus::Variant> options) override;
    void Remove(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name) override;
    void Rename(sdbus::Result<>&& result, std::string name, std::string newName) override;
    void CopyTo(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string hostPath,
                std::string path, std::map<std::string, sdbus::Variant> options) override;
    void CopyFrom(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, std::string name, std::string path,
                  std::string hostPath, std::map<std::string, sdbus::Variant> options) override;
    void SetLimits(sdbus::Result<>&& result, std::string name, std::map<std::string, sdbus::Variant> limits) override;

    Caller currentCaller() const;
    // Checks `action` for the current caller, then runs `work` on the loop with
    // the shared reply (which asynchronous work keeps until it answers); errors
    // thrown by `work` (or the denial) become the method's error reply.
    template <typename Work, typename... Results>
    void authorizeThen(sdbus::Result<Results...>&& result, const std::string& action, const Details& details,
                       Work work);
    // The machine named `name` after validating the name; throws InvalidName / NoSuchMachine.
    const MachineView& existingMachine(const std::string& name) const;
    // machined's KillMachine for Reboot and Kill, then the reply; a machine machined no longer knows has stopped.
    void killMachine(const DoneReply& reply, const std::string& name, const std::string& whom, int signal);
    // Reads the machine again from disk, before checks that depend on whether it is a template.
    void refreshReadOnlyFlag(const std::string& name) const;

    // Starts a template job for a prepared request (shared by CreateTemplate and ImportTemplate).
    void startTemplateJob(const JobReply& reply, const Caller& caller, const std::shared_ptr<TemplateRequest>& request);
    Catalog loadCatalog() const;
    std::vector<Recipe> loadRecipes() const;
    // Gives the request the machine's side, as checked (checkRun) after polkit, and admits the job.
    std::shared_ptr<Job> admitRun(const std::string& type, const std::string& action, uid_t uid, RunRequest& request,
                                  const RunTarget& target);

    // CopyTo and CopyFrom after parsing: polkit, then a job that machined's copy (running) or the
    // daemon's own (stopped) ends.
    void copyFiles(sdbus::Result<uint32_t, sdbus::ObjectPath>&& result, CopyRequest request);

    const Config& config_;
    TemplateInstaller installer_;
    Cloner cloner_;
    Exporter exporter_;
    MachineSettings settings_;
    ContainerLifecycle lifecycle_;
    MachineStore& store_;
    MachineRegistry& machines_;
    JobManager& jobs_;
    JobRegistry& jobRegistry_;
    PolkitAuthority& polkit_;

    // The machines as the request checks see them: the registry's, and the jobs' holds.
    class RegistryState final : public MachineStateView {
    public:
        RegistryState(const MachineRegistry& machines, const JobManager& jobs) : machines_(machines), jobs_(jobs) { }
        const MachineInfo* find(const std::string& name) const override;
        bool isRunning(const std::string& name) const override;
        bool isHeld(const std::string& name) const override;

    private:
        const MachineRegistry& machines_;
        const JobManager& jobs_;
    };
    RegistryState machineState_;
};

} // namespace bred
