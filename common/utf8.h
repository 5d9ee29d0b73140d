// The one gate for text that leaves the daemon: D-Bus strings must be valid
// UTF-8 without NUL, and sd-bus refuses the rest, so text that trees, archives,
// commands or files supply passes through escapeInvalidUtf8() on its way out.
#pragma once

#include <string>
#include <string_view>

namespace bred {

// True when sd-bus accepts `text` as a string: UTF-8 in shortest form, no NUL,
// no surrogate, nothing above U+10FFFF, no noncharacter (U+FDD0..U+FDEF, U+xxFFFE, U+xxFFFF).
bool isValidUtf8(std::string_view text);

// `text` with every byte that is not part of such a character (NUL included)
// replaced by U+FFFD, as systemd's utf8_escape_invalid() does; valid text is returned unchanged.
std::string escapeInvalidUtf8(std::string_view text);

} // namespace bred
