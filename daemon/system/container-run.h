// Runs one command inside a container, running or stopped, as a transient
// unit with the caller's own stdin/stdout/stderr, and waits for its exit.
//
// A running container: the unit is started by the container's own systemd,
// reached on its bus (as `systemd-run --machine` does), so the command runs
// with the container's users, PAM-free environment and cgroup. A stopped
// container: the host's systemd runs systemd-nspawn on the tree with the
// command as its payload (behind nspawn's stub init), honouring the
// machine's .nspawn settings, and ends with it.
#pragma once

#include "nspawn-command.h"
#include "resource-limits.h"
#include "unique-fd.h"

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace bred {

class JobContext;

struct RunRequest {
    std::string machine;
    std::filesystem::path directory;
    bool running = false;
    // The machine's own (SetLimits): a stopped machine's command is booted under them, as the container is.
    ResourceLimits limits;
    ContainerCommand command;
    // The caller's descriptors; -1 means /dev/null.
    UniqueFd stdinFd, stdoutFd, stderrFd;
    // When not empty, the command's standard input instead (a secret stays off its command line).
    std::string input;
};

// Checks the command a caller asks for; throws Error(InvalidArgs) with the reason.
void validateContainerCommand(const ContainerCommand& command);

// Runs the request (a caller's command checked with validateContainerCommand
// first) and returns the command's exit status (128+N when killed by signal N). Throws Error when it cannot be run,
// JobCanceled when canceled (the command is stopped first). `outputLine`, when set, replaces the caller's stdout and
// stderr: each line the command prints goes there.
int runInContainer(RunRequest& request, JobContext& job,
                   const std::function<void(const std::string&)>& outputLine = {});

} // namespace bred
