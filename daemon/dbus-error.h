// Domain errors as D-Bus errors, through the one table in common/errors.cpp.
#pragma once

#include "errors.h"

#include <sdbus-c++/Error.h>

namespace bred {

inline sdbus::Error toDbusError(const Error& error)
{
    return sdbus::Error(std::string(dbusErrorName(error.code())), error.what());
}

} // namespace bred
