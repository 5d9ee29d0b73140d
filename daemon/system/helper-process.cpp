#include "helper-process.h"

#include "errors.h"
#include "unique-fd.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <poll.h>
#include <spawn.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

namespace bred {
namespace {

constexpr int reportFd = 3;

std::string signalName(int signal)
{
    const char* abbreviation = sigabbrev_np(signal);
    const char* description = sigdescr_np(signal);
    return abbreviation ? fmt::format("SIG{} ({})", abbreviation, description ? description : "unknown")
                        : fmt::format("signal {}", signal);
}

} // namespace

HelperPipe makeHelperPipe(PipeDirection direction)
{
    int fds[2];
    if (pipe2(fds, O_CLOEXEC) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot create a pipe: {}", std::strerror(errno)));
    UniqueFd readEnd(fds[0]), writeEnd(fds[1]);
    fcntl(writeEnd.get(), F_SETPIPE_SZ, 1 << 20);
    HelperPipe pipe = direction == PipeDirection::ToHelper ? HelperPipe{std::move(writeEnd), std::move(readEnd)}
                                                           : HelperPipe{std::move(readEnd), std::move(writeEnd)};
    fcntl(pipe.daemonEnd.get(), F_SETFL, O_NONBLOCK);
    return pipe;
}

std::filesystem::path HelperProcess::besideDaemon(const std::string& name)
{
    std::error_code error;
    auto self = std::filesystem::read_symlink("/proc/self/exe", error);
    if (error)
        throw Error(ErrorCode::Failed, fmt::format("cannot find the daemon's own program: {}", error.message()));
    return self.parent_path() / name;
}

HelperProcess::HelperProcess(const std::filesystem::path& program, const std::vector<std::string>& arguments,
                             Stdio stdio, RecordHandler onRecord) :
    name_(program.filename().string()),
    onRecord_(std::move(onRecord))
{
    int reportPipe[2];
    if (pipe2(reportPipe, O_CLOEXEC) < 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot create a pipe for {}: {}", name_, std::strerror(errno)));
    UniqueFd readEnd(reportPipe[0]), writeEnd(reportPipe[1]);

    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    // Standard input and output first: either may be 3, which the report pipe takes next.
    if (stdio.in >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdio.in, STDIN_FILENO);
    else
        posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
    if (stdio.out >= 0)
        posix_spawn_file_actions_adddup2(&actions, stdio.out, STDOUT_FILENO);
    posix_spawn_file_actions_adddup2(&actions, writeEnd.get(), reportFd);
    posix_spawn_file_actions_addclosefrom_np(&actions, reportFd + 1);
    // The job thread's blocked signals (SIGTERM, for the loop) and ignored ones
    // (SIGPIPE) are not the helper's: it starts with the defaults.
    posix_spawnattr_t attributes;
    posix_spawnattr_init(&attributes);
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    posix_spawnattr_setsigmask(&attributes, &none);
    posix_spawnattr_setsigdefault(&attributes, &all);
    posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argumentStrings{program.string()};
    argumentStrings.insert(argumentStrings.end(), arguments.begin(), arguments.end());
    std::vector<char*> argv;
    for (auto& argument : argumentStrings)
        argv.push_back(argument.data());
    argv.push_back(nullptr);
    char* envp[] = {nullptr};
    int spawned = posix_spawn(&pid_, program.c_str(), &actions, &attributes, argv.data(), envp);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attributes);
    if (spawned != 0)
        throw Error(ErrorCode::Failed, fmt::format("cannot run {}: {}", program.string(), std::strerror(spawned)));
    pidFd_ = int(syscall(SYS_pidfd_open, pid_, 0));
    if (pidFd_ < 0) {
        int error = errno;
        kill(pid_, SIGKILL);
        waitpid(pid_, nullptr, 0);
        pid_ = -1;
        throw Error(ErrorCode::Failed, fmt::format("cannot watch {}: {}", name_, std::strerror(error)));
    }
    writeEnd.reset(); // the helper's end: its exit closes the pipe
    int killFd = fcntl(pidFd_, F_DUPFD_CLOEXEC, 0);
    if (killFd < 0) {
        int error = errno;
        stop();
        throw Error(ErrorCode::Failed, fmt::format("cannot watch {}: {}", name_, std::strerror(error)));
    }
    reader_ = std::thread([this, fd = readEnd.release(), killFd] { readReports(fd, killFd); });
}

HelperProcess::~HelperProcess() { stop(); }

void HelperProcess::readReports(int fd, int killFd)
{
    UniqueFd pipe(fd), helper(killFd);
    UnpackReportParser parser;
    std::vector<char> buffer(64 << 10);
    for (;;) {
        ssize_t n = read(pipe.get(), buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        parser.feed(std::string_view(buffer.data(), std::size_t(n)));
        try {
            while (auto record = parser.next()) {
                if (final_)
                    throw Error(ErrorCode::Failed, fmt::format("{} sent a report after its result.", name_));
                if (std::holds_alternative<UnpackFailure>(*record) || std::holds_alternative<UnpackDone>(*record))
                    final_ = std::move(record);
                else
                    onRecord_(*record);
            }
        } catch (const std::exception& error) {
            // A confused or subverted helper: its work is not to be trusted.
            reportError_ = error.what();
            syscall(SYS_pidfd_send_signal, helper.get(), SIGKILL, nullptr, 0);
            return;
        }
    }
    if (!parser.empty())
        reportError_ = fmt::format("{} ended in the middle of a report.", name_);
}

bool HelperProcess::reap(std::chrono::milliseconds timeout)
{
    pollfd entry{pidFd_, POLLIN, 0};
    if (poll(&entry, 1, int(timeout.count())) <= 0)
        return false;
    while (waitpid(pid_, &status_, 0) < 0 && errno == EINTR) { }
    close(pidFd_);
    pidFd_ = -1;
    pid_ = -1;
    if (reader_.joinable())
        reader_.join();
    return true;
}

bool HelperProcess::hasEnded() const
{
    pollfd entry{pidFd_, POLLIN, 0};
    return pid_ < 0 || poll(&entry, 1, 0) > 0;
}

void HelperProcess::stop()
{
    if (pid_ < 0)
        return;
    kill(pid_, SIGTERM);
    if (!reap(gracePeriod)) {
        kill(pid_, SIGKILL);
        reap(std::chrono::milliseconds(-1));
    }
}

bool HelperProcess::wait(int cancelFd)
{
    while (pid_ >= 0) {
        pollfd entries[] = {{pidFd_, POLLIN, 0}, {cancelFd, POLLIN, 0}};
        if (poll(entries, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            throw Error(ErrorCode::Failed, fmt::format("cannot wait for {}: {}", name_, std::strerror(errno)));
        }
        if (entries[1].revents != 0) {
            stop();
            return false;
        }
        reap(std::chrono::milliseconds(0));
    }
    if (!reportError_.empty())
        throw Error(ErrorCode::Failed, reportError_);
    if (WIFSIGNALED(status_))
        throw Error(ErrorCode::Failed, fmt::format("The helper {} was killed by {}; nothing was installed.", name_,
                                                   signalName(WTERMSIG(status_))));
    if (final_) {
        if (const auto* failure = std::get_if<UnpackFailure>(&*final_))
            throw Error(failure->code, failure->message);
        if (WIFEXITED(status_) && WEXITSTATUS(status_) == 0)
            return true;
    }
    throw Error(ErrorCode::Failed, fmt::format("The helper {} exited with status {} without a result.", name_,
                                               WIFEXITED(status_) ? WEXITSTATUS(status_) : -1));
}

} // namespace bred
