#include "dbus-error.h"

#include "utf8.h"

namespace bred {

sdbus::Error toDbusError(const Error& error)
{
    return sdbus::Error(dbus::ErrorName{std::string(dbusErrorName(error.code()))}, escapeInvalidUtf8(error.what()));
}

} // namespace bred
