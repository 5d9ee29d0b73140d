#include "utf8.h"

#include <cstddef>

namespace bred {
namespace {

constexpr std::string_view replacementCharacter = "\xef\xbf\xbd";

bool isAllowedCodePoint(char32_t c)
{
    if (c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
        return false;
    // Noncharacters: sd-bus refuses them as systemd's unichar_is_valid() does.
    return !(c >= 0xfdd0 && c <= 0xfdef) && (c & 0xfffe) != 0xfffe;
}

// Length of the valid character at the start of `text`, or 0 when its first byte starts none.
std::size_t validCharacterLength(std::string_view text)
{
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    const unsigned char lead = byte(0);
    if (lead != 0 && lead < 0x80)
        return 1;
    std::size_t length;
    char32_t c;
    if ((lead & 0xe0) == 0xc0) {
        length = 2;
        c = lead & 0x1f;
    } else if ((lead & 0xf0) == 0xe0) {
        length = 3;
        c = lead & 0x0f;
    } else if ((lead & 0xf8) == 0xf0) {
        length = 4;
        c = lead & 0x07;
    } else {
        return 0; // NUL, a continuation byte, or a lead byte no code point needs
    }
    if (text.size() < length)
        return 0;
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xc0) != 0x80)
            return 0;
        c = c << 6 | (byte(i) & 0x3f);
    }
    // Overlong forms encode a code point in more bytes than it needs.
    const char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (c < smallest[length] || !isAllowedCodePoint(c))
        return 0;
    return length;
}

} // namespace

bool isValidUtf8(std::string_view text)
{
    while (!text.empty()) {
        std::size_t length = validCharacterLength(text);
        if (length == 0)
            return false;
        text.remove_prefix(length);
    }
    return true;
}

std::string escapeInvalidUtf8(std::string_view text)
{
    if (isValidUtf8(text))
        return std::string(text);
    std::string escaped;
    escaped.reserve(text.size() + 16);
    while (!text.empty()) {
        std::size_t length = validCharacterLength(text);
        if (length == 0) {
            escaped += replacementCharacter;
            text.remove_prefix(1);
        } else {
            escaped += text.substr(0, length);
            text.remove_prefix(length);
        }
    }
    return escaped;
}

} // namespace bred
