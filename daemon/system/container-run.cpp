#include "container-run.h"

#include "atomic-file.h"
#include "errors.h"
#include "job.h"
#include "leftover-units.h"
#include "line-splitter.h"
#include "names.h"
#include "nspawn-command.h"
#include "sd-bus-handles.h"
#include "transient-unit.h"

#include <cerrno>
#include <algorithm>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <map>
#include <optional>
#include <poll.h>
#include <sys/wait.h>
#include <time.h>
#include <utility>
#include <vector>
#include <systemd/sd-bus.h>
#include <unistd.h>

namespace bred {
namespace {

constexpr const char* systemdService = "org.freedesktop.systemd1";
constexpr const char* systemdPath = "/org/freedesktop/systemd1";
constexpr const char* managerInterface = "org.freedesktop.systemd1.Manager";
// systemd's exit statuses for a command it could not start: EXIT_CHDIR (200)
// to the last of its own; EXIT_EXEC (203) is "could not execute".
constexpr int systemdExitChdir = 200;
constexpr int systemdExitExec = 203;
constexpr int systemdExitLast = 243;
constexpr auto stopGrace = std::chrono::seconds(15);

void check(int r, const char* what)
{
    if (r < 0)
        throw Error(ErrorCode::Failed, fmt::format("{}: {}", what, std::strerror(-r)));
}

// The job results seen on the bus, by job path.
struct JobWatch {
    std::map<std::string, std::string> results;
};

int onJobRemoved(sd_bus_message* message, void* userdata, sd_bus_error*)
{
    std::uint32_t id = 0;
    const char *path = nullptr, *unit = nullptr, *result = nullptr;
    if (sd_bus_message_read(message, "uoss", &id, &path, &unit, &result) >= 0)
        static_cast<JobWatch*>(userdata)->results[path] = result;
    return 0;
}

// Notes that the unit's properties changed, so its state is read again.
int onUnitChanged(sd_bus_message*, void* userdata, sd_bus_error*)
{
    *static_cast<bool*>(userdata) = true;
    return 0;
}

class UnitRun {
public:
    UnitRun(Bus bus, std::string unit, JobContext& job) : bus_(std::move(bus)), unit_(std::move(unit)), job_(job)
    {
        char* path = nullptr;
        check(sd_bus_path_encode("/org/freedesktop/systemd1/unit", unit_.c_str(), &path), "cannot name the unit");
        unitPath_ = path;
        free(path);
        // Signals are sent to subscribers only; the matches come before the start, so no result is missed.
        check(sd_bus_match_signal(bus_.get(), nullptr, systemdService, systemdPath, managerInterface, "JobRemoved",
                                  onJobRemoved, &jobs_),
              "cannot watch systemd's jobs");
        check(sd_bus_match_signal(bus_.get(), nullptr, systemdService, unitPath_.c_str(),
                                  "org.freedesktop.DBus.Properties", "PropertiesChanged", onUnitChanged, &unitChanged_),
              "cannot watch the unit");
        BusError error;
        int r = sd_bus_call_method(bus_.get(), systemdService, systemdPath, managerInterface, "Subscribe", &error.error,
                                   nullptr, "");
        if (r < 0)
            throw Error(ErrorCode::Failed, fmt::format("systemd did not accept a subscription: {}", error.text(r)));
    }

    sd_bus* bus() const { return bus_.get(); }

    // Starts the unit from a prepared StartTransientUnit call and waits for the start job.
    void start(sd_bus_message* call)
    {
        BusError error;
        sd_bus_message* rawReply = nullptr;
        int r = sd_bus_call(bus_.get(), call, 0, &error.error, &rawReply);
        Message reply(rawReply);
        if (r < 0)
            throw Error(ErrorCode::Failed, fmt::format("systemd did not start the command: {}", error.text(r)));
        const char* jobPath = nullptr;
        check(sd_bus_message_read(reply.get(), "o", &jobPath), "cannot read systemd's reply");
        std::string job = jobPath;
        while (!jobs_.results.count(job)) {
            stopIfCanceled();
            if (stopDeadline_ && std::chrono::steady_clock::now() > *stopDeadline_)
                throw JobCanceled{};
            waitForBus();
        }
        startResult_ = jobs_.results[job];
    }

    // Waits for the command to end and returns its exit status; `whileWaiting`
    // runs after each wake-up: a change of the unit, a cancel, or `outputFd`
    // (if not -1) readable; `whileWaiting` sets it to -1 when the output ends.
    int wait(const int& outputFd, const std::function<void()>& whileWaiting)
    {
        unitChanged_ = true; // its state before the first signal
        for (;;) {
            if (std::exchange(unitChanged_, false)) {
                std::string state = property("org.freedesktop.systemd1.Unit", "ActiveState");
                if (state == "inactive" || state == "failed")
                    break;
            }
            stopIfCanceled();
            if (stopDeadline_ && std::chrono::steady_clock::now() > *stopDeadline_)
                break;
            waitForBus(outputFd);
            if (whileWaiting)
                whileWaiting();
        }
        if (stopDeadline_)
            throw JobCanceled{};
        auto [code, status] = exitStatus();
        // A command that exits at once can end before its start job does, which then
        // fails: that is still the command's own status. Only systemd's own exit
        // statuses for a failed start (EXIT_CHDIR 200 ... EXIT_EXEC 203 ... EXIT_USER
        // 217 ...) on a failed start job mean it never ran.
        if (startResult_ != "done" &&
            (code == 0 || (code == CLD_EXITED && status >= systemdExitChdir && status <= systemdExitLast))) {
            if (code == CLD_EXITED && status == systemdExitExec)
                throw Error(ErrorCode::Failed, "The command could not be executed inside the container: it was not "
                                               "found there, or is not executable.");
            throw Error(ErrorCode::Failed,
                        fmt::format("systemd could not start the command (its job ended '{}'{}); check the user and "
                                    "the working directory.",
                                    startResult_, code == CLD_EXITED ? fmt::format(", status {}", status) : ""));
        }
        return code == CLD_EXITED ? status : 128 + status;
    }

private:
    // On a cancel, asks systemd once to stop the unit; the caller then waits
    // for it to end, at most stopGrace.
    void stopIfCanceled()
    {
        if (stopDeadline_ || !job_.cancelRequested())
            return;
        stopDeadline_ = std::chrono::steady_clock::now() + stopGrace;
        BusError error;
        sd_bus_call_method(bus_.get(), systemdService, systemdPath, managerInterface, "StopUnit", &error.error, nullptr,
                           "ss", unit_.c_str(), "replace");
    }

    // Dispatches what sd-bus has read; true when there was anything.
    bool processBus()
    {
        int r;
        bool dispatched = false;
        while ((r = sd_bus_process(bus_.get(), nullptr)) > 0)
            dispatched = true;
        if (r < 0)
            throw Error(ErrorCode::Failed,
                        fmt::format("The connection to the container's systemd was lost ({}); did the container stop?",
                                    std::strerror(-r)));
        return dispatched;
    }

    // Waits for a message from systemd, a cancel (until it has been acted on), `otherFd`
    // readable, or the end of the grace given to a stop.
    void waitForBus(int otherFd = -1)
    {
        // A signal that came in during a method call waits in sd-bus's queue, not on the socket.
        if (processBus())
            return;
        int events = sd_bus_get_events(bus_.get());
        if (events < 0)
            check(events, "cannot wait for systemd");
        std::uint64_t busTimeout = UINT64_MAX;
        check(sd_bus_get_timeout(bus_.get(), &busTimeout), "cannot wait for systemd");
        int timeoutMs = -1;
        if (busTimeout != UINT64_MAX) {
            timespec monotonic{};
            clock_gettime(CLOCK_MONOTONIC, &monotonic); // sd-bus's clock
            auto now = std::chrono::seconds(monotonic.tv_sec) + std::chrono::duration_cast<std::chrono::microseconds>(
                                                                    std::chrono::nanoseconds(monotonic.tv_nsec));
            timeoutMs = int(std::max<std::int64_t>(
                0, std::chrono::ceil<std::chrono::milliseconds>(std::chrono::microseconds(busTimeout) - now).count()));
        }
        if (stopDeadline_) {
            auto left = std::chrono::ceil<std::chrono::milliseconds>(*stopDeadline_ - std::chrono::steady_clock::now());
            int leftMs = int(std::max<std::int64_t>(0, left.count()));
            timeoutMs = timeoutMs < 0 ? leftMs : std::min(timeoutMs, leftMs);
        }
        std::vector<pollfd> fds{{sd_bus_get_fd(bus_.get()), short(events), 0}};
        if (!stopDeadline_)
            fds.push_back({job_.cancelFd(), POLLIN, 0});
        if (otherFd >= 0)
            fds.push_back({otherFd, POLLIN, 0});
        int r = poll(fds.data(), fds.size(), timeoutMs);
        if (r < 0 && errno != EINTR)
            check(-errno, "cannot wait for systemd");
        processBus();
    }

    std::string property(const char* interface, const char* name)
    {
        BusError error;
        char* value = nullptr;
        int r = sd_bus_get_property_string(bus_.get(), systemdService, unitPath_.c_str(), interface, name, &error.error,
                                           &value);
        if (r < 0)
            throw Error(ErrorCode::Failed, fmt::format("cannot read the state of {}: {}", unit_, error.text(r)));
        std::string text = value;
        free(value);
        return text;
    }

    std::pair<int, int> exitStatus()
    {
        auto read = [this](const char* name) {
            BusError error;
            std::int32_t value = 0;
            int r = sd_bus_get_property_trivial(bus_.get(), systemdService, unitPath_.c_str(),
                                                "org.freedesktop.systemd1.Service", name, &error.error, 'i', &value);
            if (r < 0)
                throw Error(ErrorCode::Failed,
                            fmt::format("cannot read the exit status of {}: {}", unit_, error.text(r)));
            return int(value);
        };
        return {read("ExecMainCode"), read("ExecMainStatus")};
    }

    Bus bus_;
    std::string unit_, unitPath_;
    JobContext& job_;
    JobWatch jobs_;
    std::string startResult_;
    bool unitChanged_ = false;
    std::optional<std::chrono::steady_clock::time_point> stopDeadline_;
};

// Reads what the command prints into lines for the job's log.
class LineReader {
public:
    explicit LineReader(std::function<void(const std::string&)> sink) : lines_(std::move(sink)) { }
    // Reads what is there without blocking, at most a few MiB so that a command
    // printing without pause still lets the caller look at cancels; false at end of file.
    bool drain(int fd)
    {
        char buffer[4096];
        for (int reads = 0; reads < 1024; ++reads) {
            ssize_t n = read(fd, buffer, sizeof buffer);
            if (n == 0) {
                flush();
                return false;
            }
            if (n < 0)
                return errno == EAGAIN || errno == EINTR;
            lines_.feed(std::string_view(buffer, std::size_t(n)));
        }
        return true;
    }
    void flush() { lines_.flush(); }

private:
    LineSplitter lines_;
};

// A pipe holding `text` (a few bytes, well within a pipe's buffer) and its end.
UniqueFd inputPipe(const std::string& text)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        check(-errno, "cannot make a pipe");
    UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
    if (write(writeEnd.get(), text.data(), text.size()) != ssize_t(text.size()))
        check(-errno, "cannot fill a pipe");
    return readEnd;
}

} // namespace

void validateContainerCommand(const ContainerCommand& command)
{
    auto invalid = [](const std::string& message) { return Error(ErrorCode::InvalidArgs, message); };
    if (command.argv.empty() || command.argv.front().empty())
        throw invalid("No command given: pass the command and its arguments.");
    for (const auto& argument : command.argv)
        if (argument.find('\0') != std::string::npos)
            throw invalid("A command argument contains a NUL byte.");
    if (!command.user.empty() && !isValidUserName(command.user))
        throw invalid(fmt::format("'{}' is not a valid user name.", command.user));
    if (!command.workingDirectory.empty() && command.workingDirectory != "~" &&
        !isAbsoluteNormalPath(command.workingDirectory))
        throw invalid(fmt::format("Option 'cwd' ('{}') must be an absolute, normalized path without control "
                                  "characters, or '~'.",
                                  command.workingDirectory));
    for (const auto& variable : command.environment)
        if (!isEnvironmentAssignment(variable))
            throw invalid(fmt::format("Option 'env' holds '{}', which is not an assignment NAME=VALUE: NAME of "
                                      "letters, digits and '_', not starting with a digit, VALUE without control "
                                      "characters.",
                                      variable));
}

int runInContainer(RunRequest& request, JobContext& job, const std::function<void(const std::string&)>& outputLine)
{
    UniqueFd outputRead, outputWrite;
    if (outputLine) {
        int fds[2];
        if (pipe2(fds, O_CLOEXEC) < 0)
            check(-errno, "cannot make a pipe");
        outputRead = UniqueFd(fds[0]);
        outputWrite = UniqueFd(fds[1]);
        fcntl(outputRead.get(), F_SETFL, O_NONBLOCK);
    }
    if (!request.input.empty())
        request.stdinFd = inputPipe(request.input);
    const int stdinFd = request.stdinFd.get();
    const int stdoutFd = outputLine ? outputWrite.get() : request.stdoutFd.get();
    const int stderrFd = outputLine ? outputWrite.get() : request.stderrFd.get();
    const bool interactive = stdinFd >= 0 && isatty(stdinFd);

    sd_bus* rawBus = nullptr;
    std::string unit;
    int r;
    if (request.running) {
        r = sd_bus_open_system_machine(&rawBus, request.machine.c_str());
        if (r < 0)
            throw Error(ErrorCode::Failed,
                        fmt::format("cannot reach the system bus inside '{}' ({}); the container needs D-Bus running "
                                    "for commands to be run in it while it runs.",
                                    request.machine, std::strerror(-r)));
        unit = fmt::format("bred-run-{}.service", randomSuffix());
    } else {
        check(sd_bus_open_system(&rawBus), "cannot reach the system bus");
        unit = fmt::format("bred-run-{}-{}.service", request.machine, randomSuffix());
    }
    UnitRun run(Bus(rawBus), unit, job);
    std::optional<RunningCommandNote> note;
    if (request.running)
        note.emplace(request.machine, unit);

    std::vector<std::string> command = request.command.argv;
    if (!request.running)
        command = nspawnRunCommand(request.machine, request.directory, request.command, interactive);
    else if (interactive)
        // A terminal becomes the command's controlling terminal, so ^C and job control work.
        command.insert(command.begin(), {"setsid", "--ctty", "--wait"});

    TransientUnit transient;
    transient.name = unit;
    transient.description =
        fmt::format("Command in {} (bred-machined): {}", request.machine, request.command.argv.front());
    transient.type = "exec";
    transient.command = command;
    transient.stdio = TransientUnit::Stdio{stdinFd, stdoutFd, stderrFd};
    if (request.running) {
        transient.user = request.command.user;
        transient.workingDirectory = request.command.workingDirectory;
        transient.environment = request.command.environment;
    } else {
        // Confined as the booted container is: root inside must not reach the host's devices, and the
        // machine's limits hold for its commands too.
        transient.confinement = NspawnConfinement{};
        transient.confinement->limits = request.limits;
    }
    Message call = transientUnitCall(run.bus(), transient);

    job.setStage("run");
    run.start(call.get());
    // systemd holds its own copies now: ours must go, or the output pipe never ends.
    call.reset();
    outputWrite.reset();
    request.stdinFd.reset();
    request.stdoutFd.reset();
    request.stderrFd.reset();

    std::optional<LineReader> reader;
    if (outputLine)
        reader.emplace(outputLine);
    int watchedFd = reader ? outputRead.get() : -1;
    int status = run.wait(watchedFd, [&] {
        if (watchedFd >= 0 && !reader->drain(watchedFd))
            watchedFd = -1;
    });
    if (reader) {
        // What the command printed last may still be in the pipe.
        pollfd entry{outputRead.get(), POLLIN, 0};
        while (poll(&entry, 1, 200) > 0 && reader->drain(outputRead.get())) { }
        reader->flush();
    }
    return status;
}

} // namespace bred
