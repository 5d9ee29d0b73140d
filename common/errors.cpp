#include "errors.h"

#include <array>
#include <utility>

namespace bred {
namespace {

constexpr std::array<std::pair<ErrorCode, std::string_view>, 19> errorTable{{
    {ErrorCode::InvalidName, "org.bredos.machine1.Error.InvalidName"},
    {ErrorCode::NoSuchMachine, "org.bredos.machine1.Error.NoSuchMachine"},
    {ErrorCode::AlreadyExists, "org.bredos.machine1.Error.AlreadyExists"},
    {ErrorCode::Busy, "org.bredos.machine1.Error.Busy"},
    {ErrorCode::NotRunning, "org.bredos.machine1.Error.NotRunning"},
    {ErrorCode::DownloadFailed, "org.bredos.machine1.Error.DownloadFailed"},
    {ErrorCode::VerificationFailed, "org.bredos.machine1.Error.VerificationFailed"},
    {ErrorCode::BadArchive, "org.bredos.machine1.Error.BadArchive"},
    {ErrorCode::UnsupportedArchitecture, "org.bredos.machine1.Error.UnsupportedArchitecture"},
    {ErrorCode::NoSuchDistribution, "org.bredos.machine1.Error.NoSuchDistribution"},
    {ErrorCode::NoSuchRecipe, "org.bredos.machine1.Error.NoSuchRecipe"},
    {ErrorCode::RecipeFailed, "org.bredos.machine1.Error.RecipeFailed"},
    {ErrorCode::TooManyJobs, "org.bredos.machine1.Error.TooManyJobs"},
    {ErrorCode::NoSuchJob, "org.bredos.machine1.Error.NoSuchJob"},
    {ErrorCode::NotSupported, "org.bredos.machine1.Error.NotSupported"},
    {ErrorCode::AccessDenied, "org.freedesktop.DBus.Error.AccessDenied"},
    {ErrorCode::InteractiveAuthorizationRequired, "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"},
    {ErrorCode::InvalidArgs, "org.freedesktop.DBus.Error.InvalidArgs"},
    {ErrorCode::Failed, "org.freedesktop.DBus.Error.Failed"},
}};

} // namespace

std::string_view dbusErrorName(ErrorCode code)
{
    for (const auto& [entryCode, name] : errorTable)
        if (entryCode == code)
            return name;
    return "org.freedesktop.DBus.Error.Failed";
}

ErrorCode errorCodeFromDbusName(std::string_view name)
{
    for (const auto& [code, entryName] : errorTable)
        if (entryName == name)
            return code;
    return ErrorCode::Failed;
}

} // namespace bred
