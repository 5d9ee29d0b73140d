// The one asynchronous polkit check every mutating method goes through.
#pragma once

#include "errors.h"

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>

namespace sdbus {
class IConnection;
class IProxy;
class Message;
} // namespace sdbus

namespace bred {

// Who sent a method call, captured before any asynchronous step.
struct Caller {
    std::string busName;
    uid_t uid = static_cast<uid_t>(-1);
    bool allowInteractiveAuthorization = false;

    static Caller fromMessage(const sdbus::Message& message);
};

class PolkitAuthority {
public:
    explicit PolkitAuthority(sdbus::IConnection& bus);
    ~PolkitAuthority();

    // Calls `done` with nullopt when `caller` may do `action`, or with the error to
    // reply: AccessDenied, or InteractiveAuthorizationRequired when the caller could
    // authenticate but did not allow interaction. Root is authorized without asking
    // polkit; when polkitd cannot be reached, everyone else is denied.
    void check(const Caller& caller, const std::string& action, const std::map<std::string, std::string>& details,
               std::function<void(std::optional<Error>)> done);

private:
    std::unique_ptr<sdbus::IProxy> proxy_;
};

} // namespace bred
