// A single-threaded poll(2) loop that drives an sdbus-c++ connection, file
// descriptors and timers. Everything that touches the bus runs on this loop;
// worker threads hand results back with post().
#pragma once

#include <cassert>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <vector>

namespace sdbus {
class IConnection;
}

// For code that touches the bus: in debug builds, stops the daemon when it runs
// on any thread but the event loop's.
#ifdef NDEBUG
#define BRED_ASSERT_ON_LOOP_THREAD() ((void)0)
#else
#define BRED_ASSERT_ON_LOOP_THREAD() assert(::bred::EventLoop::onLoopThread())
#endif

namespace bred {

class EventLoop {
public:
    using Task = std::function<void()>;
    using FdHandler = std::function<void(short revents)>;
    using TimerId = std::uint64_t;

    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

    void attachBus(sdbus::IConnection& bus) { bus_ = &bus; }
    // Whether the caller is on the thread that made the loop or last ran it (true while there is none).
    static bool onLoopThread();
    void watchFd(int fd, short events, FdHandler handler);
    void unwatchFd(int fd);
    TimerId addTimer(std::chrono::milliseconds delay, Task task);
    void cancelTimer(TimerId id);

    // Called inside `catch (...)` when a task, timer or fd handler throws, after which the loop goes on
    // (a daemon must outlive a failed handler). Without one, the exception leaves run() and runUntil().
    void setFailureHandler(std::function<void()> handler) { failureHandler_ = std::move(handler); }

    // Thread-safe: queue a task for the loop thread and wake it.
    void post(Task task);

    // Runs until quit(); returns the exit code given to quit().
    int run();
    // Runs until `done` returns true or quit() is called; returns false on quit.
    bool runUntil(const std::function<bool()>& done);
    void quit(int exitCode = 0);

private:
    // Dispatches what is ready, then waits for more unless `done` says to stop.
    void iterate(const std::function<bool()>& done);
    bool runPostedTasks();
    void runDueTimers();
    void dispatch(const std::function<void()>& handler);

    sdbus::IConnection* bus_ = nullptr;
    int wakeFd_ = -1;
    std::mutex postedMutex_;
    std::vector<Task> posted_;
    std::map<int, std::pair<short, FdHandler>> fds_;
    struct Timer {
        TimerId id;
        Task task;
    };
    std::multimap<std::chrono::steady_clock::time_point, Timer> timers_;
    TimerId nextTimerId_ = 1;
    std::function<void()> failureHandler_;
    bool quit_ = false;
    int exitCode_ = 0;
};

} // namespace bred
