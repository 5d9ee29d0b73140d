// Admission of jobs: the concurrent-job limits (for all, and per caller),
// one job per machine, ids.
#pragma once

#include "job.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace bred {

class JobManager;

// Busy: a job, or a hold, has the machine. (The one wording of it: the layers
// above refuse with it too.)
Error machineBusy(const std::string& machine);

// Machines held by a short operation that is not a job (a Rename waiting for
// systemd): until it is released, jobs on them and other holds get Busy.
class MachineHold {
public:
    MachineHold(JobManager& jobs, std::vector<std::string> machines) : jobs_(jobs), machines_(std::move(machines)) { }
    ~MachineHold() { release(); }
    MachineHold(const MachineHold&) = delete;
    MachineHold& operator=(const MachineHold&) = delete;
    void release();

private:
    JobManager& jobs_;
    std::vector<std::string> machines_;
    bool released_ = false;
};

class JobManager {
public:
    // At most `maxJobs` jobs at once, and `maxJobsPerCaller` of one uid (root is exempt).
    JobManager(unsigned maxJobs, unsigned maxJobsPerCaller) : maxJobs_(maxJobs), maxJobsPerCaller_(maxJobsPerCaller) { }

    // Admits a new job holding `machines` (its machine, plus e.g. a new name it
    // creates) for itself, and `readMachines` (a clone's source) shared with
    // other readers. Throws TooManyJobs at either limit and Busy when another job
    // holds one of them in a conflicting way. The job's Machine is `label`, or
    // else the first of `machines`.
    std::shared_ptr<Job> admit(const std::string& type, const std::vector<std::string>& machines,
                               const std::string& polkitAction, uid_t ownerUid,
                               const std::vector<std::string>& readMachines = {}, const std::string& label = {});
    // Forgets a finished job and releases its machines.
    void release(std::uint32_t id);
    // Holds `machines` without a job; throws Busy when a job or another hold has one.
    std::shared_ptr<MachineHold> hold(const std::vector<std::string>& machines);

    std::shared_ptr<Job> find(std::uint32_t id) const;
    std::vector<std::shared_ptr<Job>> jobs() const;
    bool isMachineHeld(const std::string& machine) const
    {
        return heldMachines_.count(machine) > 0 || readMachines_.count(machine) > 0;
    }
    bool empty() const { return jobs_.empty(); }

private:
    friend class MachineHold;
    // Throws Busy when `machines` (held alone) or `readMachines` (shared) conflict with a holder.
    void checkFree(const std::vector<std::string>& machines, const std::vector<std::string>& readMachines) const;

    unsigned maxJobs_;
    unsigned maxJobsPerCaller_;
    std::uint32_t nextId_ = 1;
    std::map<std::uint32_t, std::shared_ptr<Job>> jobs_;
    std::map<std::uint32_t, std::vector<std::string>> jobMachines_, jobReadMachines_;
    std::set<std::string> heldMachines_;
    std::multiset<std::string> readMachines_;
};

} // namespace bred
