#include "refusals.h"

#include <fmt/format.h>

namespace bred::refusal {

Error invalidMachineName(const std::string& name)
{
    return Error(ErrorCode::InvalidName,
                 fmt::format("'{}' is not a valid machine name: use 1 to 64 letters, digits, '-' and '.', "
                             "in dot-separated parts that neither start nor end with '-'.",
                             name));
}

Error noSuchMachine(const std::string& name)
{
    return Error(ErrorCode::NoSuchMachine,
                 fmt::format("No machine '{}' exists; 'bredmachine list' shows the machines.", name));
}

Error machineExists(const std::string& name, bool replaceable)
{
    return Error(ErrorCode::AlreadyExists, fmt::format("A machine '{}' already exists; choose another name{}.", name,
                                                       replaceable ? ", or replace it (force)" : ""));
}

Error notReplaceable(const std::string& name)
{
    return Error(ErrorCode::AlreadyExists,
                 fmt::format("'{}' is a container, not a template; only templates are replaced.", name));
}

Error running(const std::string& name, const std::string& verb)
{
    return Error(
        ErrorCode::Busy,
        fmt::format("Machine '{}' is running; stop it first ('bredmachine stop {}') to {} it.", name, name, verb));
}

Error runningAlready(const std::string& name)
{
    return Error(ErrorCode::Busy, fmt::format("Machine '{}' is running already.", name));
}

Error notRunning(const std::string& name)
{
    return Error(ErrorCode::NotRunning, fmt::format("Machine '{}' is not running.", name));
}

Error isTemplate(const std::string& name, const std::string& action)
{
    return Error(ErrorCode::NotSupported,
                 fmt::format("'{}' is a template, which is read-only and never runs. Clone it into a container "
                             "('bredmachine clone {} NAME') and {} that.",
                             name, name, action));
}

} // namespace bred::refusal
