// Measures machines' disk usage (fs/disk-usage.h) off the event loop, one
// tree at a time for the whole daemon: a listing that asks for every
// machine's size queues the walks instead of starting them all at once.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>

namespace bred {

class DiskUsageMeter {
public:
    using Task = std::function<void()>;
    // Runs on the worker thread: hands `task` to the loop thread (EventLoop::post).
    using Post = std::function<void(Task)>;
    // Runs on the loop thread with a finished measurement.
    using Measured = std::function<void(const std::string& name, std::uint64_t bytes)>;

    DiskUsageMeter(Post post, Measured measured);
    // Stops the walk under way and waits for the worker.
    ~DiskUsageMeter();
    DiskUsageMeter(const DiskUsageMeter&) = delete;
    DiskUsageMeter& operator=(const DiskUsageMeter&) = delete;

    // Queues a measurement of machine `name`'s tree, unless one is queued or under way already.
    void request(const std::string& name, const std::filesystem::path& directory);

private:
    void work();

    Post post_;
    Measured measured_;
    std::mutex mutex_;
    std::condition_variable wake_;
    std::deque<std::pair<std::string, std::filesystem::path>> queue_;
    std::set<std::string> pending_; // queued or being walked
    bool stopping_ = false;
    std::thread worker_;
};

} // namespace bred
