#include "polkit-authority.h"

#include "current-error.h"
#include "event-loop.h"
#include "raw-message.h"

#include <fmt/format.h>
#include "sdbus-compat.h"
#include <spdlog/spdlog.h>

namespace bred {
namespace {

constexpr std::uint32_t allowUserInteraction = 1;
// A person may take a while to type a password; without interaction polkit answers at once.
constexpr auto interactiveTimeout = std::chrono::minutes(5);
constexpr auto plainTimeout = std::chrono::seconds(25);

} // namespace

Caller Caller::fromMessage(const sdbus::Message& message)
{
    Caller caller;
    caller.busName = message.getSender();
    caller.allowInteractiveAuthorization =
        sd_bus_message_get_allow_interactive_authorization(RawMessage::of(message)) > 0;
    try {
        caller.uid = message.getCredsUid();
    } catch (const sdbus::Error& error) {
        spdlog::warn("Cannot tell the user id of {}: {}", caller.busName, error.getMessage());
    }
    return caller;
}

PolkitAuthority::PolkitAuthority(sdbus::IConnection& bus) :
    proxy_(sdbus::createProxy(bus, dbus::ServiceName{"org.freedesktop.PolicyKit1"},
                              sdbus::ObjectPath{"/org/freedesktop/PolicyKit1/Authority"}))
{
    BRED_ASSERT_ON_LOOP_THREAD();
}

PolkitAuthority::~PolkitAuthority() = default;

void PolkitAuthority::check(const Caller& caller, const std::string& action,
                            const std::map<std::string, std::string>& details,
                            std::function<void(std::optional<Error>)> done)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    done = loggingFailures("After a polkit check", std::move(done));
    if (caller.uid == 0) {
        done(std::nullopt);
        return;
    }
    using Subject = sdbus::Struct<std::string, std::map<std::string, sdbus::Variant>>;
    Subject subject{"system-bus-name", std::map<std::string, sdbus::Variant>{{"name", sdbus::Variant{caller.busName}}}};
    std::uint32_t flags = caller.allowInteractiveAuthorization ? allowUserInteraction : 0;
    std::string actionId = "org.bredos.machine1." + action;
    try {
        proxy_->callMethodAsync("CheckAuthorization")
            .onInterface("org.freedesktop.PolicyKit1.Authority")
            .withTimeout(caller.allowInteractiveAuthorization
                             ? std::chrono::duration_cast<std::chrono::microseconds>(interactiveTimeout)
                             : std::chrono::microseconds(plainTimeout))
            .withArguments(subject, actionId, details, flags, std::string())
            .uponReplyInvoke([done, actionId,
                              caller](dbus::CallError error,
                                      sdbus::Struct<bool, bool, std::map<std::string, std::string>> result) {
                if (error) {
                    spdlog::warn("polkit check of {} for {} failed: {}", actionId, caller.busName, error->getMessage());
                    done(Error(ErrorCode::AccessDenied,
                               fmt::format("Access denied: the authorization service (polkit) could not be "
                                           "asked ({}); is polkitd installed and running?",
                                           error->getMessage())));
                    return;
                }
                bool authorized = result.get<0>(), challenge = result.get<1>();
                if (authorized)
                    done(std::nullopt);
                else if (challenge)
                    done(Error(ErrorCode::InteractiveAuthorizationRequired,
                               fmt::format("Authentication is required for {}; run the command in a terminal "
                                           "or with an authentication agent, without --no-ask-password.",
                                           actionId)));
                else
                    done(Error(ErrorCode::AccessDenied,
                               fmt::format("Access denied: you are not allowed {}; ask an administrator to add "
                                           "you to the 'bredmachine' group.",
                                           actionId)));
            });
    } catch (const sdbus::Error& error) {
        done(Error(ErrorCode::AccessDenied,
                   fmt::format("Access denied: the authorization service (polkit) could not be asked: {}",
                               error.getMessage())));
    }
}

} // namespace bred
