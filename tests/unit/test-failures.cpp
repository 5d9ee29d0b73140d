// What a failing handler does: the loop goes on, the caller or job gets a clear error.
#include "current-error.h"
#include "dbus-error.h"
#include "event-loop.h"

#include "catch.h"
#include <chrono>
#include <optional>
#include <stdexcept>

using namespace bred;

TEST_CASE("with a failure handler, a throwing task, timer or fd handler does not stop the loop")
{
    EventLoop loop;
    int failures = 0;
    loop.setFailureHandler([&] { ++failures; });
    bool ranAfter = false;
    loop.post([] { throw std::runtime_error("task"); });
    loop.addTimer(std::chrono::milliseconds(0), [] { throw Error(ErrorCode::Failed, "timer"); });
    loop.addTimer(std::chrono::milliseconds(1), [] { throw 42; });
    loop.addTimer(std::chrono::milliseconds(5), [&] { ranAfter = true; });
    CHECK(loop.runUntil([&] { return ranAfter; }));
    CHECK(failures == 3);
}

TEST_CASE("without a failure handler, the exception leaves the loop as before")
{
    EventLoop loop;
    loop.post([] { throw std::runtime_error("task"); });
    CHECK_THROWS_AS(loop.runUntil([] { return false; }), std::runtime_error);
}

TEST_CASE("the exception being handled becomes the error a caller is told")
{
    auto asError = [](auto thrower) -> Error {
        try {
            thrower();
        } catch (...) {
            return currentError("test");
        }
        return Error(ErrorCode::Failed, "nothing thrown");
    };
    Error domain = asError([] { throw Error(ErrorCode::Busy, "Machine 'x' is busy."); });
    CHECK(domain.code() == ErrorCode::Busy);
    CHECK(std::string(domain.what()) == "Machine 'x' is busy.");
    Error internal = asError([] { throw std::length_error("vector too long"); });
    CHECK(internal.code() == ErrorCode::Failed);
    CHECK(std::string(internal.what()) == "Internal error: vector too long");
    Error bus = asError([] { throw sdbus::Error(dbus::ErrorName{"org.freedesktop.DBus.Error.InvalidArgs"}, "bad"); });
    CHECK(bus.code() == ErrorCode::InvalidArgs);
    CHECK(std::string(bus.what()).find("bad") != std::string::npos);
    CHECK(asError([] { throw 1; }).code() == ErrorCode::Failed);
}

TEST_CASE("a continuation's failure is logged, not passed on")
{
    std::function<void(std::optional<Error>)> throwing = [](std::optional<Error>) { throw std::runtime_error("x"); };
    auto guarded = loggingFailures("test", throwing);
    CHECK_NOTHROW(guarded(std::nullopt));
}

TEST_CASE("a D-Bus error message is valid UTF-8 whatever the domain error quoted")
{
    auto error = toDbusError(Error(ErrorCode::BadArchive, "bad entry name 'a\xff'"));
    CHECK(error.getName() == "org.bredos.machine1.Error.BadArchive");
    CHECK(error.getMessage() == "bad entry name 'a\xef\xbf\xbd'");
}
