// Admission of jobs: the concurrent-job limit, one job per machine, ids.
#pragma once

#include "job.h"

#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

namespace bred {

class JobManager {
public:
    explicit JobManager(unsigned maxJobs) : maxJobs_(maxJobs) {}

    // Admits a new job holding `machines` (its machine, plus e.g. a new name it
    // creates) for itself, and `readMachines` (a clone's source) shared with
    // other readers. Throws TooManyJobs at the limit and Busy when another job
    // holds one of them in a conflicting way. The job's Machine is `label`, or
    // else the first of `machines`.
    std::shared_ptr<Job> admit(const std::string& type, const std::vector<std::string>& machines,
                               const std::string& polkitAction, uid_t ownerUid,
                               const std::vector<std::string>& readMachines = {}, const std::string& label = {});
    // Forgets a finished job and releases its machines.
    void release(std::uint32_t id);

    std::shared_ptr<Job> find(std::uint32_t id) const;
    std::vector<std::shared_ptr<Job>> jobs() const;
    bool isMachineHeld(const std::string& machine) const
    {
        return heldMachines_.count(machine) > 0 || readMachines_.count(machine) > 0;
    }
    bool empty() const { return jobs_.empty(); }

private:
    unsigned maxJobs_;
    std::uint32_t nextId_ = 1;
    std::map<std::uint32_t, std::shared_ptr<Job>> jobs_;
    std::map<std::uint32_t, std::vector<std::string>> jobMachines_, jobReadMachines_;
    std::set<std::string> heldMachines_;
    std::multiset<std::string> readMachines_;
};

} // namespace bred
