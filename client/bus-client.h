// The client's side of the bus: the connection, calls with interactive
// authorization, and waiting for jobs.
#pragma once

#include "bus-names.h"
#include "command-line.h"
#include "errors.h"
#include "event-loop.h"
#include "format.h"
#include "proxies.h"

#include <map>
#include <memory>
#include <optional>
#include "sdbus-compat.h"
#include <string>

namespace bred::client {

// Exit statuses of the contract.
enum ExitStatus { ExitSuccess = 0, ExitFailure = 1, ExitUsage = 2, ExitNotAuthorized = 4 };

// A D-Bus error from the daemon, kept with its name for the exit status.
int exitStatusForError(const sdbus::Error& error);

class BusClient {
public:
    explicit BusClient(const GlobalOptions& options);

    sdbus::IConnection& connection() { return *connection_; }
    ManagerProxy& manager() { return *manager_; }
    EventLoop& loop() { return loop_; }

    // A Manager method call that may ask polkit, interactively unless --no-ask-password.
    sdbus::MethodCall mutatingCall(const std::string& method);
    sdbus::MethodReply send(const sdbus::MethodCall& call);

    // Waits for the job to end, with a progress bar when wanted, printing its log
    // lines; Ctrl-C cancels it. Returns the exit status: for a command's job
    // (Run: no progress bar, its output is on the terminal) the command's own.
    enum class JobKind { Operation, Command };
    // `step`: the job is one of several in a row, shown in one display.
    int waitForJob(std::uint32_t id, const std::string& path, JobKind kind = JobKind::Operation,
                   std::optional<ProgressState::Step> step = std::nullopt);

private:
    GlobalOptions options_;
    std::unique_ptr<sdbus::IConnection> connection_;
    // Job log lines by job path, subscribed to before any call: a job may log
    // before its caller has its path.
    std::map<std::string, std::vector<std::string>> jobLogLines_;
    std::function<void(const std::string& path, const std::string& line)> onJobLogLine_;
    sdbus::Slot jobLogMatch_;
    std::unique_ptr<ManagerProxy> manager_;
    EventLoop loop_;
};

} // namespace bred::client
