// CopyTo and CopyFrom: files into or out of a machine. A running container's
// copy is systemd-machined's (the bus layer calls it); a stopped machine's
// tree is copied here, with every path inside resolved inside the tree.
#pragma once

#include "errors.h"

#include <filesystem>
#include <string>

namespace bred {

class JobContext;

enum class CopyDirection {
    IntoMachine,  // CopyTo: host path -> machine path
    OutOfMachine, // CopyFrom: machine path -> host path
};

struct CopyRequest {
    std::string machine;
    CopyDirection direction = CopyDirection::IntoMachine;
    std::string hostPath, machinePath; // absolute and normalized, never "/"
    bool replace = false;              // an existing destination is replaced whole
    // Filled in by checkCopy.
    std::filesystem::path directory;
    bool running = false;
};

// "copy-to" or "copy-from": the job type and polkit verb.
const char* copyVerb(CopyDirection direction);

// The job's work for a stopped machine: copies a regular file or a directory
// tree (owners, modes, times, xattrs, hard links, symlinks as they are, device
// nodes, FIFOs and sockets as what they are; device nodes are left out of a
// copy onto the host) under a hidden temporary name beside the destination and
// renames it into place. A path inside the tree is resolved inside it, so a
// symlink there never leads to a host file; nothing in the tree but regular
// files and directories is opened. Throws Error: InvalidArgs when the source
// or the destination's directory is missing, AlreadyExists when the
// destination exists without `replace`, NotSupported for a source that is
// neither a file nor a directory; nothing is left behind.
void copyStoppedMachineFiles(const CopyRequest& request, JobContext& job);

// Before machined copies in a running container: the host side is there (the
// source, or the destination's directory), and, without `replace`, the
// destination is not (a path inside is looked up in the machine's tree as it
// is on disk: machined would merge a directory into an existing one). Throws
// Error as copyStoppedMachineFiles does.
void checkMachinedCopy(const CopyRequest& request);

// The job's error for machined's error reply `name`, `message` to the copy.
Error machinedCopyError(const CopyRequest& request, const std::string& name, const std::string& message);

} // namespace bred
