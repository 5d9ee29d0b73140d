#include "event-loop.h"

#include "sdbus-compat.h"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <poll.h>
#include <stdexcept>
#include <sys/eventfd.h>
#include <system_error>
#include <thread>
#include <unistd.h>

namespace bred {
namespace {

// The daemon has one loop; its thread is what the assertion compares with.
std::atomic<std::thread::id> loopThread{};

} // namespace

bool EventLoop::onLoopThread()
{
    auto id = loopThread.load();
    return id == std::thread::id() || id == std::this_thread::get_id();
}

EventLoop::EventLoop()
{
    loopThread = std::this_thread::get_id();
    wakeFd_ = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wakeFd_ < 0)
        throw std::system_error(errno, std::generic_category(), "eventfd");
}

EventLoop::~EventLoop() { close(wakeFd_); }

void EventLoop::watchFd(int fd, short events, FdHandler handler) { fds_[fd] = {events, std::move(handler)}; }

void EventLoop::unwatchFd(int fd) { fds_.erase(fd); }

EventLoop::TimerId EventLoop::addTimer(std::chrono::milliseconds delay, Task task)
{
    TimerId id = nextTimerId_++;
    timers_.emplace(std::chrono::steady_clock::now() + delay, Timer{id, std::move(task)});
    return id;
}

void EventLoop::cancelTimer(TimerId id)
{
    auto it = std::find_if(timers_.begin(), timers_.end(), [id](const auto& entry) { return entry.second.id == id; });
    if (it != timers_.end())
        timers_.erase(it);
}

void EventLoop::post(Task task)
{
    {
        std::lock_guard lock(postedMutex_);
        posted_.push_back(std::move(task));
    }
    uint64_t one = 1;
    // A full counter still wakes the loop, so a failed write needs no handling.
    [[maybe_unused]] auto written = write(wakeFd_, &one, sizeof one);
}

void EventLoop::quit(int exitCode)
{
    quit_ = true;
    exitCode_ = exitCode;
}

int EventLoop::run()
{
    loopThread = std::this_thread::get_id();
    quit_ = false;
    while (!quit_)
        iterate([] { return false; });
    return exitCode_;
}

bool EventLoop::runUntil(const std::function<bool()>& done)
{
    loopThread = std::this_thread::get_id();
    quit_ = false;
    while (!quit_) {
        if (done())
            return true;
        iterate(done);
    }
    return false;
}

bool EventLoop::runPostedTasks()
{
    std::vector<Task> tasks;
    {
        std::lock_guard lock(postedMutex_);
        tasks.swap(posted_);
    }
    for (auto& task : tasks)
        dispatch(task);
    return !tasks.empty();
}

void EventLoop::runDueTimers()
{
    auto now = std::chrono::steady_clock::now();
    while (!timers_.empty() && timers_.begin()->first <= now) {
        Task task = std::move(timers_.begin()->second.task);
        timers_.erase(timers_.begin());
        dispatch(task);
    }
}

void EventLoop::dispatch(const std::function<void()>& handler)
{
    try {
        handler();
    } catch (...) {
        if (!failureHandler_)
            throw;
        failureHandler_();
    }
}

void EventLoop::iterate(const std::function<bool()>& done)
{
    if (bus_)
        while (dbus::processPendingEvent(*bus_)) { }
    bool ranTasks = runPostedTasks();
    runDueTimers();
    if (quit_ || done())
        return;

    // Tasks and timers may have queued bus messages or more tasks: look again at once.
    int timeoutMs = ranTasks ? 0 : -1;
    if (!timers_.empty()) {
        auto wait =
            std::chrono::ceil<std::chrono::milliseconds>(timers_.begin()->first - std::chrono::steady_clock::now());
        int timerMs = static_cast<int>(std::max<std::int64_t>(0, wait.count()));
        timeoutMs = timeoutMs < 0 ? timerMs : std::min(timeoutMs, timerMs);
    }

    std::vector<pollfd> pollFds;
    pollFds.push_back({wakeFd_, POLLIN, 0});
    if (bus_) {
        auto busPoll = dbus::busPoll(*bus_);
        pollFds.push_back({busPoll.fd, busPoll.events, 0});
        if (busPoll.eventFd >= 0)
            pollFds.push_back({busPoll.eventFd, POLLIN, 0});
        if (busPoll.timeoutMs >= 0)
            timeoutMs = timeoutMs < 0 ? busPoll.timeoutMs : std::min(timeoutMs, busPoll.timeoutMs);
    }
    std::size_t firstUserFd = pollFds.size();
    for (const auto& [fd, entry] : fds_)
        pollFds.push_back({fd, entry.first, 0});

    int ready = poll(pollFds.data(), pollFds.size(), timeoutMs);
    if (ready < 0) {
        if (errno == EINTR)
            return;
        throw std::system_error(errno, std::generic_category(), "poll");
    }
    if (pollFds[0].revents & POLLIN) {
        uint64_t count;
        [[maybe_unused]] auto readBytes = read(wakeFd_, &count, sizeof count);
    }
    for (std::size_t i = firstUserFd; i < pollFds.size(); ++i) {
        if (!pollFds[i].revents)
            continue;
        // A handler may unwatch fds, including its own: look it up afresh.
        auto it = fds_.find(pollFds[i].fd);
        if (it != fds_.end()) {
            FdHandler handler = it->second.second;
            dispatch([&] { handler(pollFds[i].revents); });
        }
    }
}

} // namespace bred
