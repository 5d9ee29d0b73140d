#include "container-user.h"

#include "container-run.h"
#include "errors.h"
#include "job.h"
#include "names.h"

#include <fmt/format.h>
#include <syslog.h>

namespace bred {
namespace {

// useradd(8)'s exit statuses.
constexpr int userAddNameInUse = 9;
constexpr int userAddNoSuchGroup = 6;
constexpr int commandNotFound = 127;

Error invalid(const std::string& message) { return Error(ErrorCode::InvalidArgs, message); }

// crypt(3) output ("$id$salt$hash", "$2b$..."), or "!"/"*" for a locked password.
bool isCryptHash(const std::string& hash)
{
    if (hash == "!" || hash == "*")
        return true;
    if (hash.size() < 4 || hash.front() != '$')
        return false;
    for (char c : hash)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '$' || c == '.' || c == '/' || c == '=' || c == '-' ||
              c == ','))
            return false;
    return true;
}

} // namespace

UserAddition userAddition(const std::string& user, const std::optional<std::string>& passwordHash,
                          const std::optional<std::vector<std::string>>& groups,
                          const std::optional<std::string>& shell)
{
    if (!isValidUserName(user))
        throw Error(ErrorCode::InvalidName,
                    fmt::format("'{}' is not a valid user name: start with a letter or '_', then letters, digits, "
                                "'_' or '-', at most 31 characters, not all digits.",
                                user));
    std::vector<std::string> command{"useradd", "--create-home"};
    if (groups && !groups->empty()) {
        std::string list;
        for (const auto& group : *groups) {
            if (!isValidUserName(group))
                throw invalid(fmt::format("Option 'groups' holds '{}', which is not a valid group name: start with "
                                          "a letter or '_', then letters, digits, '_' or '-', at most 31 characters.",
                                          group));
            list += (list.empty() ? "" : ",") + group;
        }
        command.insert(command.end(), {"--groups", list});
    }
    if (shell) {
        // passwd(5) separates fields with ':'.
        if (!isAbsoluteNormalPath(*shell) || shell->find_first_of(": ") != std::string::npos)
            throw invalid(fmt::format("Option 'shell' ('{}') must be an absolute, normalized path without spaces, "
                                      "':' or control characters, such as /bin/bash.",
                                      *shell));
        command.insert(command.end(), {"--shell", *shell});
    }
    command.insert(command.end(), {"--", user});
    if (!passwordHash)
        return {command, {}};
    // The hash's alphabet has no ':' nor line break, so the line chpasswd reads is this user's only.
    if (!isCryptHash(*passwordHash))
        throw invalid("The password hash is not in crypt(3) form ('$y$...', '$6$...'; 'openssl passwd -6' or "
                      "'mkpasswd' make one), nor '!' for a locked password. Never pass the password itself.");
    // useradd's own exit status stays the script's when it fails; "$@" is useradd's arguments.
    std::vector<std::string> script{"/bin/sh", "-c", "useradd \"$@\" && exec chpasswd --encrypted", "sh"};
    script.insert(script.end(), command.begin() + 1, command.end());
    return {script, user + ":" + *passwordHash + "\n"};
}

void checkUserAddStatus(int status, const std::string& user, const std::string& machine,
                        const std::vector<std::string>& output)
{
    if (status == 0)
        return;
    std::string printed;
    for (const auto& line : output)
        printed += "\n" + line;
    if (status == userAddNameInUse)
        throw Error(ErrorCode::AlreadyExists, fmt::format("A user '{}' exists already in '{}'.", user, machine));
    if (status == userAddNoSuchGroup)
        throw Error(
            ErrorCode::InvalidArgs,
            fmt::format("A group given does not exist in '{}'; create it first or leave it out.{}", machine, printed));
    if (status == commandNotFound)
        throw Error(ErrorCode::NotSupported,
                    fmt::format("'{}' has no useradd; install its shadow (passwd) package first.", machine));
    throw Error(ErrorCode::Failed,
                fmt::format("useradd failed in '{}' with exit status {}.{}", machine, status, printed));
}

void addUser(RunRequest& request, const std::string& user, JobContext& job)
{
    std::vector<std::string> output;
    int status = runInContainer(request, job, [&](const std::string& line) {
        job.log(LOG_INFO, line);
        // The last lines explain a failure; a flood must not fill memory.
        if (output.size() == 15)
            output.erase(output.begin());
        output.push_back(line);
    });
    checkUserAddStatus(status, user, request.machine, output);
    job.log(LOG_INFO, fmt::format("User '{}' added to '{}'.", user, request.machine));
}

} // namespace bred
