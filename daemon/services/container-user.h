// Login users inside containers: the useradd command line that AddUser runs
// inside the container, and what its exit status means.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bred {

class JobContext;
struct RunRequest;

// What AddUser runs inside the container: the command, and what it reads on
// its standard input. A password hash goes to `chpasswd --encrypted` there,
// never on a command line (/proc/PID/cmdline, the unit's ExecStart=).
struct UserAddition {
    std::vector<std::string> command;
    std::string input; // empty: none
};

// `useradd --create-home ... -- USER` (then chpasswd with a hash), after
// checking every value. Throws Error(InvalidName) for a bad user name,
// Error(InvalidArgs) for a bad option, naming what is wrong.
UserAddition userAddition(const std::string& user, const std::optional<std::string>& passwordHash,
                          const std::optional<std::vector<std::string>>& groups,
                          const std::optional<std::string>& shell);

// Throws the error useradd's exit `status` stands for (AlreadyExists for a
// taken name), with what it printed; returns when it succeeded.
void checkUserAddStatus(int status, const std::string& user, const std::string& machine,
                        const std::vector<std::string>& output);

// AddUser's job: runs `request` (the userAddition command in its machine),
// its output into the job's log, and throws what a failure means.
void addUser(RunRequest& request, const std::string& user, JobContext& job);

} // namespace bred
