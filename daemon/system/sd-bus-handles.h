// Owning handles for raw sd-bus objects, for the few places that talk to a
// bus sdbus-c++ cannot reach (a container's bus, a bus opened at startup).
#pragma once

#include <cstring>
#include <memory>
#include <string>
#include <systemd/sd-bus.h>

namespace bred {

struct BusUnref {
    void operator()(sd_bus* bus) const { sd_bus_flush_close_unref(bus); }
};
using Bus = std::unique_ptr<sd_bus, BusUnref>;

struct MessageUnref {
    void operator()(sd_bus_message* message) const { sd_bus_message_unref(message); }
};
using Message = std::unique_ptr<sd_bus_message, MessageUnref>;

// An sd_bus_error freed on every path.
struct BusError {
    sd_bus_error error{}; // SD_BUS_ERROR_NULL, which C++ cannot spell: a C compound literal
    ~BusError() { sd_bus_error_free(&error); }
    std::string text(int r) const { return error.message ? error.message : std::strerror(-r); }
};

} // namespace bred
