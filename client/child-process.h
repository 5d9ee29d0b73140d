// A program of the host the client runs beside its own work, with the
// client's standard streams (logs runs the host's journalctl this way).
#pragma once

#include <string>
#include <sys/types.h>
#include <vector>

namespace bred::client {

class ChildProcess {
public:
    // Starts `argv` (looked up in PATH) with default signal handling, whatever
    // the client blocks. Throws std::system_error when it cannot be started.
    explicit ChildProcess(const std::vector<std::string>& argv);
    // Ends it (SIGTERM) when it still runs, and reaps it.
    ~ChildProcess();
    ChildProcess(const ChildProcess&) = delete;
    ChildProcess& operator=(const ChildProcess&) = delete;

    // Waits for it to end; its wait status.
    int wait();

private:
    pid_t pid_ = -1;
};

} // namespace bred::client
