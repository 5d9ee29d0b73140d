#include "format.h"
#include "output.h"

#include <algorithm>
#include <cmath>
#include <iostream>
#include <sstream>

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
    ProgressState state{0.5, "download", 50 * 1024 * 1024, 100 * 1024 * 1024, 0, {}};
    auto line = formatProgressLine(state, 80);
    CHECK(line.size() <= 80);
    CHECK_THAT(line, ContainsSubstring(" 50% download 50.0 MiB/100.0 MiB"));
    CHECK_THAT(line, StartsWith("[####"));
    CHECK(formatProgressLine(state, 20).size() <= 20);
    ProgressState unknown{-1, "remove", 0, 0, 0, {}};
    CHECK_THAT(formatProgressLine(unknown, 80), ContainsSubstring("?% remove"));
}

TEST_CASE("a step of several shows its number and fills the bar for the whole way")
{
    ProgressState state{0.5, "copying", 0, 0, 0, ProgressState::Step{2, 4, "clone"}};
    auto line = formatProgressLine(state, 60);
    CHECK_THAT(line, ContainsSubstring("] 2/4 clone:  50% copying"));
    // (1 + 0.5) / 4 of the bar.
    auto filled = std::count(line.begin(), line.end(), '#');
    auto width = line.find(']') - 1;
    CHECK(filled == std::lround(0.375 * double(width)));
}

namespace {

std::string printedJson(JsonMode mode, const nlohmann::json& value)
{
    GlobalOptions options;
    options.json = mode;
    std::ostringstream captured;
    auto* saved = std::cout.rdbuf(captured.rdbuf());
    Output(options).printJson(value);
    std::cout.rdbuf(saved);
    return captured.str();
}

} // namespace

TEST_CASE("JSON output: short on one line, pretty indented, invalid UTF-8 replaced")
{
    nlohmann::json value{{"name", "a\"b\\c\nd\x01"}, {"n", 1}};
    CHECK(printedJson(JsonMode::Short, value) == "{\"n\":1,\"name\":\"a\\\"b\\\\c\\nd\\u0001\"}\n");
    CHECK(printedJson(JsonMode::Pretty, value) == "{\n  \"n\": 1,\n  \"name\": \"a\\\"b\\\\c\\nd\\u0001\"\n}\n");
    CHECK(printedJson(JsonMode::Short, {{"os", "bad \xff byte"}}) == "{\"os\":\"bad \xef\xbf\xbd byte\"}\n");
}

TEST_CASE("the progress line shows the rate and the time left")
{
    ProgressState state{0.25, "download", 25 * 1024 * 1024, 100 * 1024 * 1024, 5 * 1024 * 1024, {}};
    CHECK_THAT(formatProgressLine(state, 120), EndsWith("5.0 MiB/s, 15s left"));
    state.bytesPerSecond = 0;
    CHECK_THAT(formatProgressLine(state, 120), EndsWith("25.0 MiB/100.0 MiB"));
    CHECK(formatDuration(59) == "59s");
    CHECK(formatDuration(185) == "3min 05s");
    CHECK(formatDuration(7800) == "2h 10min");
}

TEST_CASE("tables align text with colour by what shows")
{
    CHECK(formatTable({{"A", "B"}, {"\033[0;32mrunning\033[0m", "x"}}) == "A        B\n\033[0;32mrunning\033[0m  x\n");
}

TEST_CASE("a template's verification in words")
{
    CHECK(formatVerification("signature", "ABCD") == "signature, key ABCD");
    CHECK(formatVerification("checksum", "") == "checksum only (no signature checked)");
    CHECK(formatVerification("none", "") == "none (not verified)");
}
