#include "child-process.h"

#include <cerrno>
#include <csignal>
#include <spawn.h>
#include <sys/wait.h>
#include <system_error>

extern char** environ;

namespace bred::client {

ChildProcess::ChildProcess(const std::vector<std::string>& argv)
{
    std::vector<char*> pointers;
    for (const auto& word : argv)
        pointers.push_back(const_cast<char*>(word.c_str()));
    pointers.push_back(nullptr);
    // The client blocks the signals it waits for; the program must still end on ^C and on SIGTERM.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int signal : {SIGINT, SIGTERM, SIGPIPE, SIGHUP})
        sigaddset(&defaults, signal);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &defaults);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    const int error = posix_spawnp(&pid_, pointers[0], nullptr, &attributes, pointers.data(), environ);
    posix_spawnattr_destroy(&attributes);
    if (error != 0)
        throw std::system_error(error, std::generic_category(), "Cannot run " + argv[0]);
}

ChildProcess::~ChildProcess()
{
    if (pid_ < 0)
        return;
    kill(pid_, SIGTERM);
    wait();
}

int ChildProcess::wait()
{
    int status = 0;
    while (pid_ >= 0 && waitpid(pid_, &status, 0) < 0 && errno == EINTR) { }
    pid_ = -1;
    return status;
}

} // namespace bred::client
