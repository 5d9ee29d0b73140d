// The few places where sdbus-c++ 1.x and 2.x differ, wrapped once. Everything
// else is written in a form both accept: names built explicitly through the
// aliases below (2.x has strong types, 1.x plain strings), Variants built with
// sdbus::Variant{...} (explicit in 2.x), message accessors wrapped in
// std::string (2.x returns const char*), reply and signal handlers taking
// messages by value (2.x passes them so; 1.x's references copy into them).
// BRED_SDBUS_MAJOR comes from meson, from the version of sdbus-c++ it found.
#pragma once

#include <sdbus-c++/sdbus-c++.h>

#include <map>
#include <optional>
#include <string>

#ifndef BRED_SDBUS_MAJOR
#error "BRED_SDBUS_MAJOR is set by meson.build from the sdbus-c++ version found"
#endif

namespace bred::dbus {

#if BRED_SDBUS_MAJOR >= 2
using ServiceName = sdbus::ServiceName;
using InterfaceName = sdbus::InterfaceName;
using MethodName = sdbus::MethodName;
using PropertyName = sdbus::PropertyName;
using ErrorName = sdbus::Error::Name;
// What an asynchronous reply handler is given: set when the call failed.
using CallError = std::optional<sdbus::Error>;
// How match and reply handlers take the message (owned in 2.x; 1.x's cannot be copied).
using ReceivedMessage = sdbus::Message;
using ReceivedReply = sdbus::MethodReply;
#else
using ServiceName = std::string;
using InterfaceName = std::string;
using MethodName = std::string;
using PropertyName = std::string;
using ErrorName = std::string;
using CallError = const sdbus::Error*;
using ReceivedMessage = sdbus::Message&;
using ReceivedReply = sdbus::MethodReply&;
#endif

// Properties by name, as org.freedesktop.DBus.Properties gives them.
using Properties = std::map<PropertyName, sdbus::Variant>;

// The method call being handled by `object`'s handler that asks (2.x gives it by value, 1.x by pointer).
#if BRED_SDBUS_MAJOR >= 2
inline sdbus::Message currentMessage(const sdbus::IObject& object) { return object.getCurrentlyProcessedMessage(); }
#else
inline const sdbus::Message& currentMessage(const sdbus::IObject& object)
{
    return *object.getCurrentlyProcessedMessage();
}
#endif

// Processes one pending incoming or outgoing message or event; false when there was none.
inline bool processPendingEvent(sdbus::IConnection& bus)
{
#if BRED_SDBUS_MAJOR >= 2
    return bus.processPendingEvent();
#else
    return bus.processPendingRequest();
#endif
}

// What an external loop polls for `bus`: `fd` for `events`, `eventFd` (2.x's
// internal wake-up; -1 in 1.x) for POLLIN, and at most `timeoutMs` (-1: no limit).
struct BusPoll {
    int fd;
    short events;
    int eventFd;
    int timeoutMs;
};

inline BusPoll busPoll(const sdbus::IConnection& bus)
{
    auto data = bus.getEventLoopPollData();
#if BRED_SDBUS_MAJOR >= 2
    return {data.fd, data.events, data.eventFd, data.getPollTimeout()};
#else
    return {data.fd, data.events, -1, data.getPollTimeout()};
#endif
}

// A match rule on `bus`, active while the returned slot lives.
inline sdbus::Slot addMatch(sdbus::IConnection& bus, const std::string& rule, sdbus::message_handler handler)
{
#if BRED_SDBUS_MAJOR >= 2
    return bus.addMatch(rule, std::move(handler), sdbus::return_slot);
#else
    return bus.addMatch(rule, std::move(handler));
#endif
}

// Sends `call` without waiting; `handler` gets the reply, or the error as a CallError.
inline void callAsync(sdbus::IProxy& proxy, const sdbus::MethodCall& call, sdbus::async_reply_handler handler)
{
#if BRED_SDBUS_MAJOR >= 2
    proxy.callMethodAsync(call, std::move(handler));
#else
    proxy.callMethod(call, std::move(handler));
#endif
}

// After a proxy's signal handlers are set up: 1.x subscribes only now, 2.x did at each uponSignal().
inline void finishSignalRegistration([[maybe_unused]] sdbus::IProxy& proxy)
{
#if BRED_SDBUS_MAJOR < 2
    proxy.finishRegistration();
#endif
}

} // namespace bred::dbus
