#include "current-error.h"

#include <exception>
#include <fmt/format.h>
#include <sdbus-c++/Error.h>
#include <spdlog/spdlog.h>
#include <utility>

namespace bred {
namespace {

// The exception being handled, and whether it is a domain Error (an expected answer, not a fault).
std::pair<Error, bool> classifyCurrentException()
{
    try {
        throw;
    } catch (const Error& error) {
        return {error, true};
    } catch (const sdbus::Error& error) {
        return {Error(errorCodeFromDbusName(error.getName()),
                      fmt::format("D-Bus error {}: {}", error.getName(), error.getMessage())),
                false};
    } catch (const std::exception& error) {
        return {Error(ErrorCode::Failed, fmt::format("Internal error: {}", error.what())), false};
    } catch (...) {
        return {Error(ErrorCode::Failed, "Internal error: an unknown exception"), false};
    }
}

} // namespace

Error currentError(std::string_view where)
{
    auto [error, expected] = classifyCurrentException();
    if (!expected)
        spdlog::error("{}: {}", where, error.what());
    return error;
}

void logCurrentError(std::string_view where)
{
    spdlog::error("{}: {}", where, classifyCurrentException().first.what());
}

} // namespace bred
