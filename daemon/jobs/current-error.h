// What every bus handler, loop callback and job does with an exception: it
// ends in `catch (...)` and one of these. sdbus-c++ hands only an sdbus::Error
// back to sd-bus; anything else unwinding through sd-bus or the event loop
// would stop the daemon.
#pragma once

#include "errors.h"

#include <functional>
#include <string>
#include <string_view>

namespace bred {

// The exception being handled as the Error a caller or a job is told: a domain
// Error as it is; anything else is a fault of the daemon or of a service it
// asked, so it becomes Failed and is logged with `where`.
Error currentError(std::string_view where);

// For a callback with nobody to tell: logs the exception being handled, with `where`.
void logCurrentError(std::string_view where);

// `continuation`, with what it throws logged (with `where`) instead of passed on: for continuations
// that run inside sdbus-c++ callbacks, which let nothing but an sdbus::Error back into sd-bus (and drop that unseen).
template <typename... Args>
std::function<void(Args...)> loggingFailures(std::string where, std::function<void(Args...)> continuation)
{
    return [where = std::move(where), continuation = std::move(continuation)](Args... args) {
        try {
            continuation(std::forward<Args>(args)...);
        } catch (...) {
            logCurrentError(where);
        }
    };
}

} // namespace bred
