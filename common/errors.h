// Domain errors and the one table that maps them to D-Bus error names.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace bred {

enum class ErrorCode {
    InvalidName,
    NoSuchMachine,
    AlreadyExists,
    Busy,
    NotRunning,
    DownloadFailed,
    VerificationFailed,
    BadArchive,
    UnsupportedArchitecture,
    NoSuchDistribution,
    NoSuchRecipe,
    RecipeFailed,
    TooManyJobs,
    NoSuchJob,
    NotSupported,
    AccessDenied,
    InteractiveAuthorizationRequired,
    InvalidArgs,
    Failed,
};

// An error a domain class reports; the message is for a person and says what to do.
class Error : public std::runtime_error {
public:
    Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) { }
    ErrorCode code() const noexcept { return code_; }

private:
    ErrorCode code_;
};

// "org.bredos.machine1.Error.Busy", "org.freedesktop.DBus.Error.AccessDenied", ...
std::string_view dbusErrorName(ErrorCode code);

// The inverse, for the client; unknown names give ErrorCode::Failed.
ErrorCode errorCodeFromDbusName(std::string_view name);

} // namespace bred
