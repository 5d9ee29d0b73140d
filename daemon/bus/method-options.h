// A method's a{sv} options as plain values for the request parsers of
// services/ (request-options.h), which know nothing of D-Bus.
#pragma once

#include "request-options.h"

#include <map>
#include <sdbus-c++/Types.h>
#include <string>

namespace bred {

OptionMap toOptionMap(const std::map<std::string, sdbus::Variant>& options);

} // namespace bred
