// A minimal JSON writer for the client's --json output.
#pragma once

#include <string>
#include <string_view>

namespace bred::json {

// `text` as a JSON string literal, quotes included.
std::string quote(std::string_view text);

} // namespace bred::json
