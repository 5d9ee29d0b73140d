#include "utf8.h"

#include "catch.h"
#include <string>

using namespace bred;
using namespace std::string_literals;

namespace {

const std::string replacement = "\xef\xbf\xbd";

} // namespace

TEST_CASE("valid UTF-8 passes unchanged, multibyte characters included")
{
    for (const std::string& text : {""s, "Debian GNU/Linux 12 (bookworm)"s, "caf\xc3\xa9"s, "\xe2\x82\xac 5"s,
                                    "\xf0\x9f\x90\xa7 Tux"s, "\xe4\xb8\xad\xe6\x96\x87"s, "\x7f\x01\t\n"s,
                                    "\xef\xbf\xbd"s, "\xf4\x8f\xbf\xbd"s, "\xed\x9f\xbf"s, "\xee\x80\x80"s}) {
        CHECK(isValidUtf8(text));
        CHECK(escapeInvalidUtf8(text) == text);
    }
}

TEST_CASE("a byte that starts no character becomes U+FFFD, the rest is kept")
{
    CHECK(escapeInvalidUtf8("\xff") == replacement);
    CHECK(escapeInvalidUtf8("a\xff"
                            "b") == "a" + replacement + "b");
    CHECK(escapeInvalidUtf8("\xff\xfe\n") == replacement + replacement + "\n");
    // A lone continuation byte, and lead bytes of 5- and 6-byte forms.
    CHECK(escapeInvalidUtf8("\x80") == replacement);
    CHECK(escapeInvalidUtf8("\xf8\x88\x80\x80\x80") ==
          replacement + replacement + replacement + replacement + replacement);
    CHECK(escapeInvalidUtf8("\xfc\x84\x80\x80\x80\x80").size() == 6 * replacement.size());
    CHECK_FALSE(isValidUtf8("Debian \xff"));
}

TEST_CASE("overlong forms are refused byte by byte")
{
    // '/' as two, three and four bytes; NUL as two (Java's "modified UTF-8").
    CHECK(escapeInvalidUtf8("\xc0\xaf") == replacement + replacement);
    CHECK(escapeInvalidUtf8("\xe0\x80\xaf") == replacement + replacement + replacement);
    CHECK(escapeInvalidUtf8("\xf0\x80\x80\xaf") == replacement + replacement + replacement + replacement);
    CHECK(escapeInvalidUtf8("\xc0\x80") == replacement + replacement);
    CHECK_FALSE(isValidUtf8("\xc1\xbf"));
    CHECK(isValidUtf8("\xc2\x80"));
}

TEST_CASE("surrogates, code points above U+10FFFF and noncharacters are refused as sd-bus does")
{
    CHECK(escapeInvalidUtf8("\xed\xa0\x80") == replacement + replacement + replacement); // U+D800
    CHECK_FALSE(isValidUtf8("\xed\xbf\xbf"));                                            // U+DFFF
    CHECK_FALSE(isValidUtf8("\xf4\x90\x80\x80"));                                        // U+110000
    CHECK_FALSE(isValidUtf8("\xef\xb7\x90"));                                            // U+FDD0
    CHECK_FALSE(isValidUtf8("\xef\xbf\xbe"));                                            // U+FFFE
    CHECK_FALSE(isValidUtf8("\xef\xbf\xbf"));                                            // U+FFFF
    CHECK_FALSE(isValidUtf8("\xf0\x9f\xbf\xbf"));                                        // U+1FFFF
    CHECK(isValidUtf8("\xef\xb7\xb0"));                                                  // U+FDF0
}

TEST_CASE("truncated sequences are replaced, and the character after them kept")
{
    CHECK(escapeInvalidUtf8("\xc3") == replacement);
    CHECK(escapeInvalidUtf8("\xe2\x82") == replacement + replacement);
    CHECK(escapeInvalidUtf8("\xf0\x9f\x90") == replacement + replacement + replacement);
    CHECK(escapeInvalidUtf8("\xe2\x82"
                            "A\xc3\xa9") == replacement + replacement + "A\xc3\xa9");
    CHECK(escapeInvalidUtf8("x\xf0\x9f") == "x" + replacement + replacement);
}

TEST_CASE("NUL, which a D-Bus string cannot carry, is replaced too")
{
    CHECK_FALSE(isValidUtf8("a\0b"s));
    CHECK(escapeInvalidUtf8("a\0b"s) == "a" + replacement + "b");
    CHECK(escapeInvalidUtf8("\0"s) == replacement);
}

TEST_CASE("whatever goes in, what comes out is valid")
{
    std::string everyByte;
    for (int i = 0; i < 256; ++i)
        everyByte += static_cast<char>(i);
    CHECK(isValidUtf8(escapeInvalidUtf8(everyByte)));
    CHECK(isValidUtf8(escapeInvalidUtf8(everyByte + everyByte.substr(128) + "\xf0\x9f\x90")));
    // Every two-byte string.
    for (int a = 0; a < 256; ++a)
        for (int b = 0; b < 256; ++b) {
            std::string text{static_cast<char>(a), static_cast<char>(b)};
            REQUIRE(isValidUtf8(escapeInvalidUtf8(text)));
        }
}
