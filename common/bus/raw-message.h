// sdbus-c++ 1.2 offers no accessor for a few sd-bus message flags we need
// (interactive authorization). Its Message keeps the sd_bus_message in a
// protected member; a pointer-to-member taken through a derived class reaches
// it without undefined behaviour.
#pragma once

#include <sdbus-c++/Message.h>
#include <systemd/sd-bus.h>

namespace bred {

class RawMessage : private sdbus::Message {
public:
    static sd_bus_message* of(const sdbus::Message& message)
    {
        constexpr void* sdbus::Message::*member = &RawMessage::msg_;
        return static_cast<sd_bus_message*>(message.*member);
    }
};

} // namespace bred
