#include "bus-client.h"

#include "format.h"
#include "output.h"
#include "raw-message.h"
#include "unique-fd.h"

#include <chrono>
#include <deque>
#include <fmt/format.h>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <optional>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/signalfd.h>
#include <syslog.h>
#include <unistd.h>

namespace bred::client {
namespace {

// Long enough for a person to type a password for polkit.
constexpr std::uint64_t interactiveCallTimeoutUsec = 5ull * 60 * 1000 * 1000;

std::size_t terminalWidth()
{
    winsize size{};
    if (ioctl(STDERR_FILENO, TIOCGWINSZ, &size) == 0 && size.ws_col > 0)
        return size.ws_col;
    return 80;
}

} // namespace

int exitStatusForError(const sdbus::Error& error)
{
    auto code = errorCodeFromDbusName(error.getName());
    if (code == ErrorCode::AccessDenied || code == ErrorCode::InteractiveAuthorizationRequired)
        return ExitNotAuthorized;
    return ExitFailure;
}

BusClient::BusClient(const GlobalOptions& options) :
    options_(options),
    connection_(options.host.empty() ? sdbus::createSystemBusConnection()
                                     : sdbus::createRemoteSystemBusConnection(options.host)),
    manager_(std::make_unique<ManagerProxy>(*connection_))
{
    jobLogMatch_ =
        dbus::addMatch(*connection_,
                       fmt::format("type='signal',sender='{}',interface='{}',member='LogMessage',path_namespace='{}'",
                                   bus::serviceName, bus::jobInterface, bus::jobPathPrefix),
                       [this](dbus::ReceivedMessage message) {
                           std::uint32_t priority = 0;
                           std::string line;
                           message >> priority >> line;
                           // A downgrade the user did not ask for (no keyring, no checksum) must stand out.
                           if (priority <= LOG_WARNING)
                               line = (colourWanted(STDERR_FILENO) ? "\033[1;33mWarning:\033[0m " : "Warning: ") + line;
                           if (onJobLogLine_)
                               onJobLogLine_(message.getPath(), line);
                           else
                               jobLogLines_[message.getPath()].push_back(line);
                       });
    loop_.attachBus(*connection_);
}

sdbus::MethodCall BusClient::mutatingCall(const std::string& method)
{
    auto call = manager_->raw().createMethodCall(dbus::InterfaceName{bus::managerInterface}, dbus::MethodName{method});
    sd_bus_message_set_allow_interactive_authorization(RawMessage::of(call), options_.askPassword);
    return call;
}

sdbus::MethodReply BusClient::send(const sdbus::MethodCall& call)
{
    return manager_->raw().callMethod(call, options_.askPassword ? interactiveCallTimeoutUsec : 0);
}

int BusClient::waitForJob(std::uint32_t id, const std::string& path, JobKind kind,
                          std::optional<ProgressState::Step> step)
{
    struct Outcome {
        std::string result, errorName, errorMessage;
    };
    std::optional<Outcome> outcome;
    ProgressState state;
    state.step = std::move(step);
    const bool showProgress = options_.progress && kind == JobKind::Operation && isatty(STDERR_FILENO);
    std::int32_t exitStatus = -1;
    bool barShown = false;
    auto clearBar = [&] {
        if (barShown)
            std::cerr << "\r\033[K" << std::flush;
        barShown = false;
    };
    auto drawBar = [&] {
        if (!showProgress)
            return;
        std::cerr << "\r\033[K" << formatProgressLine(state, terminalWidth() - 1) << std::flush;
        barShown = true;
    };
    // The rate over the last few seconds, so the time left follows the rate now.
    std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> byteSamples;
    auto applyProperties = [&](const Properties& properties) {
        auto get = [&](const char* name) -> const sdbus::Variant* {
            auto it = properties.find(dbus::PropertyName{name});
            return it == properties.end() ? nullptr : &it->second;
        };
        if (auto* value = get("Progress"))
            state.progress = value->get<double>();
        if (auto* value = get("Stage"))
            state.stage = value->get<std::string>();
        if (auto* value = get("BytesDone"))
            state.bytesDone = value->get<std::uint64_t>();
        if (auto* value = get("BytesTotal"))
            state.bytesTotal = value->get<std::uint64_t>();
        if (auto* value = get("ExitStatus"))
            exitStatus = value->get<std::int32_t>();
        auto now = std::chrono::steady_clock::now();
        if (!byteSamples.empty() && state.bytesDone < byteSamples.back().second)
            byteSamples.clear(); // a new stage counts from zero
        byteSamples.emplace_back(now, state.bytesDone);
        while (now - byteSamples.front().first > std::chrono::seconds(5))
            byteSamples.pop_front();
        double seconds = std::chrono::duration<double>(now - byteSamples.front().first).count();
        state.bytesPerSecond = seconds > 0.5 ? double(state.bytesDone - byteSamples.front().second) / seconds : 0;
        drawBar();
    };

    manager_->jobRemoved = [&](std::uint32_t removedId, const std::string& result, const std::string& errorName,
                               const std::string& errorMessage) {
        if (removedId == id)
            outcome = Outcome{result, errorName, errorMessage};
    };
    JobProxy job(*connection_, path);
    job.propertiesChanged = applyProperties;
    auto printLogLine = [&](const std::string& line) {
        clearBar();
        std::cerr << line << "\n";
        drawBar();
    };
    for (const auto& line : jobLogLines_[path])
        printLogLine(line);
    jobLogLines_.clear();
    onJobLogLine_ = [&](const std::string& linePath, const std::string& line) {
        if (linePath == path)
            printLogLine(line);
    };

    // Timers that see this function's locals; they must not outlive it.
    std::vector<EventLoop::TimerId> timers;
    // A daemon that dies (or is restarted) mid-job never sends JobRemoved: its bus name changing owner ends the wait.
    const std::string daemonGone = fmt::format("bred-machined exited while job {} was running; the job's work may be "
                                               "unfinished. See 'journalctl -u bred-machined' for why.",
                                               id);
    auto ownerWatch =
        dbus::addMatch(*connection_,
                       fmt::format("type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
                                   "member='NameOwnerChanged',arg0='{}'",
                                   bus::serviceName),
                       [&](dbus::ReceivedMessage message) {
                           std::string name, oldOwner, newOwner;
                           message >> name >> oldOwner >> newOwner;
                           if (!oldOwner.empty() && !outcome)
                               outcome = Outcome{"failed", "", daemonGone};
                       });
    // It may have died before the watch was in place; a JobRemoved it sent before is still queued for us.
    try {
        std::string owner;
        sdbus::createProxy(*connection_, dbus::ServiceName{"org.freedesktop.DBus"},
                           sdbus::ObjectPath{"/org/freedesktop/DBus"})
            ->callMethod("GetNameOwner")
            .onInterface("org.freedesktop.DBus")
            .withArguments(std::string(bus::serviceName))
            .storeResultsTo(owner);
    } catch (const sdbus::Error&) {
        timers.push_back(loop_.addTimer(std::chrono::seconds(1), [&] {
            if (!outcome)
                outcome = Outcome{"failed", "", daemonGone};
        }));
    }

    // The job may have ended already; its JobRemoved is then queued for us, as
    // the manager's signals were subscribed to before the call.
    bool jobGone = false;
    try {
        applyProperties(job.GetAll(bus::jobInterface));
    } catch (const sdbus::Error&) {
        jobGone = true;
    }
    if (jobGone)
        timers.push_back(loop_.addTimer(std::chrono::seconds(10), [&] {
            if (!outcome)
                outcome = Outcome{"failed", "", "The job ended, but its result was not received."};
        }));

    // Ctrl-C cancels the job; we keep waiting for it to end.
    sigset_t signals;
    sigemptyset(&signals);
    sigaddset(&signals, SIGINT);
    sigaddset(&signals, SIGTERM);
    sigprocmask(SIG_BLOCK, &signals, nullptr);
    UniqueFd signalFd(signalfd(-1, &signals, SFD_CLOEXEC | SFD_NONBLOCK));
    loop_.watchFd(signalFd.get(), POLLIN, [&](short) {
        signalfd_siginfo info{};
        if (read(signalFd.get(), &info, sizeof info) != sizeof info)
            return;
        clearBar();
        std::cerr << "Canceling job " << id << "...\n";
        job.raw().callMethodAsync("Cancel").onInterface(bus::jobInterface).uponReplyInvoke([&](dbus::CallError error) {
            if (error)
                std::cerr << "Could not cancel job " << id << ": " << error->getMessage() << "\n";
        });
    });
    loop_.runUntil([&] { return outcome.has_value(); });
    for (auto timer : timers)
        loop_.cancelTimer(timer);
    loop_.unwatchFd(signalFd.get());
    onJobLogLine_ = nullptr;
    clearBar();

    if (outcome->result == "done") {
        if (kind == JobKind::Command)
            return exitStatus < 0 ? ExitFailure : exitStatus & 0xff;
        return ExitSuccess;
    }
    if (outcome->result == "canceled") {
        std::cerr << "Job " << id << " was canceled.\n";
        return ExitFailure;
    }
    std::cerr << "Failed: " << (outcome->errorMessage.empty() ? outcome->errorName : outcome->errorMessage) << "\n";
    auto code = errorCodeFromDbusName(outcome->errorName);
    return code == ErrorCode::AccessDenied ? ExitNotAuthorized : ExitFailure;
}

} // namespace bred::client
