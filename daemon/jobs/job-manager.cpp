#include "job-manager.h"

#include <algorithm>
#include <fmt/format.h>
#include <utility>

namespace bred {

Error machineBusy(const std::string& machine)
{
    return Error(ErrorCode::Busy, fmt::format("Machine '{}' is busy with another job; wait for it to finish "
                                              "(see 'bredmachine jobs') or cancel it.",
                                              machine));
}

void JobManager::checkFree(const std::vector<std::string>& machines, const std::vector<std::string>& readMachines) const
{
    for (const auto& machine : readMachines)
        if (heldMachines_.count(machine))
            throw machineBusy(machine);
    for (const auto& machine : machines)
        if (readMachines_.count(machine))
            throw machineBusy(machine);
    for (const auto& machine : machines)
        if (heldMachines_.count(machine))
            throw machineBusy(machine);
}

std::shared_ptr<Job> JobManager::admit(const std::string& type, const std::vector<std::string>& machines,
                                       const std::string& polkitAction, uid_t ownerUid,
                                       const std::vector<std::string>& readMachines, const std::string& label)
{
    checkFree(machines, readMachines);
    if (jobs_.size() >= maxJobs_)
        throw Error(ErrorCode::TooManyJobs,
                    fmt::format("{} jobs are already running, the limit for all callers together (max_jobs); "
                                "try again when one has finished.",
                                jobs_.size()));
    if (ownerUid != 0) {
        auto own = std::count_if(jobs_.begin(), jobs_.end(),
                                 [ownerUid](const auto& entry) { return entry.second->ownerUid() == ownerUid; });
        if (std::size_t(own) >= maxJobsPerCaller_)
            throw Error(ErrorCode::TooManyJobs,
                        fmt::format("You (uid {}) already have {} jobs running, the limit per caller "
                                    "(max_jobs_per_caller); wait for one to finish or cancel one "
                                    "('bredmachine jobs').",
                                    ownerUid, own));
    }
    std::uint32_t id = nextId_++;
    std::string machine = !label.empty() ? label : !machines.empty() ? machines.front() : std::string();
    auto job = std::make_shared<Job>(id, type, machine, polkitAction, ownerUid);
    jobs_[id] = job;
    jobMachines_[id] = machines;
    jobReadMachines_[id] = readMachines;
    heldMachines_.insert(machines.begin(), machines.end());
    readMachines_.insert(readMachines.begin(), readMachines.end());
    return job;
}

void JobManager::release(std::uint32_t id)
{
    for (const auto& machine : jobMachines_[id])
        heldMachines_.erase(machine);
    for (const auto& machine : jobReadMachines_[id])
        readMachines_.erase(readMachines_.find(machine));
    jobMachines_.erase(id);
    jobReadMachines_.erase(id);
    jobs_.erase(id);
}

std::shared_ptr<MachineHold> JobManager::hold(const std::vector<std::string>& machines)
{
    checkFree(machines, {});
    heldMachines_.insert(machines.begin(), machines.end());
    return std::make_shared<MachineHold>(*this, machines);
}

void MachineHold::release()
{
    if (std::exchange(released_, true))
        return;
    for (const auto& machine : machines_)
        jobs_.heldMachines_.erase(machine);
}

std::shared_ptr<Job> JobManager::find(std::uint32_t id) const
{
    auto it = jobs_.find(id);
    return it == jobs_.end() ? nullptr : it->second;
}

std::vector<std::shared_ptr<Job>> JobManager::jobs() const
{
    std::vector<std::shared_ptr<Job>> result;
    for (const auto& [id, job] : jobs_)
        result.push_back(job);
    return result;
}

} // namespace bred
