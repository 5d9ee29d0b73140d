// Clone: a new machine from an existing one, by the fastest faithful method
// the filesystem offers, installed atomically.
#pragma once

#include "machine-store.h"

#include <string>

namespace bred {

class JobContext;

struct CloneRequest {
    std::string source;
    std::string name;
    bool asTemplate = false;
    bool copySettings = false; // the source's NAME.nspawn (binds, network) too
};

class Cloner {
public:
    explicit Cloner(const MachineStore& store) : store_(store) { }

    // The job's work: copies into a hidden directory, makes it a new machine
    // (empty machine-id, its own hostname), then renames it into place. On any
    // failure or cancel nothing is left under the new name; the source is untouched.
    void clone(const CloneRequest& request, JobContext& job) const;

private:
    const MachineStore& store_;
};

} // namespace bred
