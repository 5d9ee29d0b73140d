// Export: a stopped machine written as a tar archive to the caller's descriptor.
#pragma once

#include "archive-writer.h"
#include "machine-store.h"
#include "unique-fd.h"

#include <string>

namespace bred {

class JobContext;

struct ExportRequest {
    std::string name;
    UniqueFd archiveFd; // the caller's: a regular file, pipe or socket open for writing
    ArchiveCompression compression = ArchiveCompression::Zstd;
};

class Exporter {
public:
    explicit Exporter(const MachineStore& store) : store_(store) { }

    // The job's work, on the job's thread: the tree is read by descriptors as
    // Clone reads it (a stopped machine's tree, in the daemon, needs no helper of
    // its own), and written to the caller's descriptor, which the bus thread never
    // touches. The descriptor is closed when the job ends, done or not.
    void exportMachine(ExportRequest& request, JobContext& job) const;

private:
    const MachineStore& store_;
};

} // namespace bred
