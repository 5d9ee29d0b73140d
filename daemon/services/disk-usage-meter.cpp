#include "disk-usage-meter.h"

#include "disk-usage.h"
#include "errors.h"

#include <spdlog/spdlog.h>

namespace bred {

DiskUsageMeter::DiskUsageMeter(Post post, Measured measured) :
    post_(std::move(post)),
    measured_(std::move(measured)),
    worker_([this] { work(); })
{
}

DiskUsageMeter::~DiskUsageMeter()
{
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    worker_.join();
}

void DiskUsageMeter::request(const std::string& name, const std::filesystem::path& directory)
{
    {
        std::lock_guard lock(mutex_);
        if (!pending_.insert(name).second)
            return;
        queue_.emplace_back(name, directory);
    }
    wake_.notify_one();
}

void DiskUsageMeter::work()
{
    auto stopRequested = [this] {
        std::lock_guard lock(mutex_);
        return stopping_;
    };
    for (;;) {
        std::pair<std::string, std::filesystem::path> next;
        {
            std::unique_lock lock(mutex_);
            wake_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
            if (stopping_)
                return;
            next = std::move(queue_.front());
            queue_.pop_front();
        }
        const auto& [name, directory] = next;
        std::optional<std::uint64_t> bytes;
        try {
            bytes = treeDiskUsage(directory, stopRequested);
        } catch (const Error& error) {
            // Removed or renamed meanwhile: the next read asks again.
            spdlog::debug("Disk usage of machine {} not measured: {}", name, error.what());
        }
        if (!bytes) {
            std::lock_guard lock(mutex_);
            pending_.erase(name);
            continue;
        }
        // Pending until the loop has the value, so that a read meanwhile does not queue another walk.
        post_([this, name = name, bytes = *bytes] {
            {
                std::lock_guard lock(mutex_);
                pending_.erase(name);
            }
            measured_(name, bytes);
        });
    }
}

} // namespace bred
