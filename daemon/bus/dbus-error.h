// Domain errors as D-Bus errors, through the one table in common/errors.cpp.
#pragma once

#include "errors.h"

#include "sdbus-compat.h"

namespace bred {

// The error as a caller gets it; its message may quote what trees and archives hold, so it is made valid UTF-8.
sdbus::Error toDbusError(const Error& error);

} // namespace bred
