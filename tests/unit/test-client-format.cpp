#include "format.h"
#include "json.h"

#include "catch.h"

using namespace bred;
using namespace bred::client;

TEST_CASE("sizes are shown in binary units")
{
    CHECK(formatBytes(0) == "0 B");
    CHECK(formatBytes(1023) == "1023 B");
    CHECK(formatBytes(1536) == "1.5 KiB");
    CHECK(formatBytes(450ull * 1024 * 1024) == "450.0 MiB");
}

TEST_CASE("tables align their columns")
{
    CHECK(formatTable({{"NAME", "STATE"}, {"a-long-name", "running"}}) == "NAME         STATE\na-long-name  running\n");
}

TEST_CASE("the progress line fits the terminal")
{
    ProgressState state{0.5, "download", 50 * 1024 * 1024, 100 * 1024 * 1024, 0};
    auto line = formatProgressLine(state, 80);
    CHECK(line.size() <= 80);
    CHECK_THAT(line, ContainsSubstring(" 50% download 50.0 MiB/100.0 MiB"));
    CHECK_THAT(line, StartsWith("[####"));
    CHECK(formatProgressLine(state, 20).size() <= 20);
    ProgressState unknown{-1, "remove", 0, 0, 0};
    CHECK_THAT(formatProgressLine(unknown, 80), ContainsSubstring("?% remove"));
}

TEST_CASE("JSON strings are escaped")
{
    CHECK(json::quote("plain") == "\"plain\"");
    CHECK(json::quote("a\"b\\c\nd\x01") == "\"a\\\"b\\\\c\\nd\\u0001\"");
}
