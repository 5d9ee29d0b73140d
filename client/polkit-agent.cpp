#include "polkit-agent.h"

#include <csignal>
#include <fcntl.h>
#include <poll.h>
#include <string>
#include <sys/wait.h>
#include <unistd.h>

namespace bred::client {

namespace {
constexpr const char* agentPath = "/usr/bin/pkttyagent";
}

PolkitAgent::PolkitAgent()
{
    if (!isatty(STDIN_FILENO) || !isatty(STDERR_FILENO) || access(agentPath, X_OK) != 0)
        return;
    int notify[2];
    if (pipe2(notify, O_CLOEXEC) < 0)
        return;
    std::string parentPid = std::to_string(getpid());
    pid_ = fork();
    if (pid_ == 0) {
        // The agent writes to the notify fd once it is registered for our process.
        if (notify[1] == 3)
            fcntl(3, F_SETFD, 0);
        else
            dup2(notify[1], 3);
        execl(agentPath, agentPath, "--notify-fd", "3", "--fallback", "--process", parentPid.c_str(),
              static_cast<char*>(nullptr));
        _exit(127);
    }
    close(notify[1]);
    if (pid_ > 0) {
        pollfd ready{notify[0], POLLIN, 0};
        poll(&ready, 1, 5000);
    }
    close(notify[0]);
}

PolkitAgent::~PolkitAgent()
{
    if (pid_ <= 0)
        return;
    kill(pid_, SIGTERM);
    waitpid(pid_, nullptr, 0);
}

} // namespace bred::client
