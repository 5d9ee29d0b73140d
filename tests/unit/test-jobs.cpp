#include "event-loop.h"
#include "job-manager.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

using namespace bred;

TEST_CASE("the job limit and one job per machine are enforced")
{
    JobManager jobs(2);
    auto first = jobs.admit("remove", {"a"}, "remove", 1000);
    CHECK(jobs.isMachineHeld("a"));
    try {
        jobs.admit("remove", {"a"}, "remove", 1000);
        FAIL("a second job on the same machine was admitted");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::Busy);
    }
    auto second = jobs.admit("clone", {"b", "c"}, "clone", 1000);
    CHECK(second->machine() == "b");
    try {
        jobs.admit("remove", {"d"}, "remove", 1000);
        FAIL("a job past the limit was admitted");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::TooManyJobs);
    }
    jobs.release(second->id());
    CHECK_FALSE(jobs.isMachineHeld("c"));
    CHECK(jobs.find(second->id()) == nullptr);
    auto third = jobs.admit("remove", {"c"}, "remove", 1000);
    CHECK(third->id() > second->id());
}

TEST_CASE("a job reports progress, logs and its result")
{
    Job job(7, "test", "m", "remove", 0);
    std::atomic<int> notifications{0};
    job.setChangeNotifier([&] { ++notifications; });
    job.start([](JobContext& context) {
        context.setStage("copy");
        context.setBytes(10, 100);
        context.setProgress(0.1);
        context.log(6, "hello");
    });
    job.join();
    auto progress = job.progress();
    CHECK(progress.state == JobState::Done);
    CHECK(progress.stage == "copy");
    CHECK(progress.bytesDone == 10);
    CHECK(progress.progress == 1.0);
    CHECK(progress.exitStatus == -1);
    CHECK(job.takeLogLines().size() == 1);
    CHECK(job.takeLogLines().empty());
    CHECK(notifications >= 5);
    CHECK_FALSE(job.failure());
}

TEST_CASE("a failing job keeps its error")
{
    Job job(1, "test", "m", "remove", 0);
    job.start([](JobContext&) { throw Error(ErrorCode::BadArchive, "broken"); });
    job.join();
    CHECK(job.progress().state == JobState::Failed);
    REQUIRE(job.failure());
    CHECK(job.failure()->code() == ErrorCode::BadArchive);
    CHECK(std::string(job.failure()->what()) == "broken");
}

TEST_CASE("cancel stops a job until its point of no return")
{
    SECTION("before")
    {
        Job job(1, "test", "m", "remove", 0);
        std::atomic<bool> started{false};
        job.start([&](JobContext& context) {
            started = true;
            while (true) {
                context.throwIfCanceled();
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
        while (!started)
            std::this_thread::yield();
        CHECK(job.requestCancel());
        job.join();
        CHECK(job.progress().state == JobState::Canceled);
        CHECK_FALSE(job.failure());
    }
    SECTION("after")
    {
        Job job(1, "test", "m", "remove", 0);
        std::atomic<bool> committed{false}, release{false};
        job.start([&](JobContext& context) {
            context.enterPointOfNoReturn();
            committed = true;
            while (!release)
                std::this_thread::yield();
            context.throwIfCanceled();
        });
        while (!committed)
            std::this_thread::yield();
        CHECK_FALSE(job.requestCancel());
        release = true;
        job.join();
        CHECK(job.progress().state == JobState::Done);
    }
}

TEST_CASE("the event loop runs posted tasks, from other threads too, and timers in order")
{
    EventLoop loop;
    std::vector<int> order;
    loop.addTimer(std::chrono::milliseconds(30), [&] { order.push_back(3); });
    loop.addTimer(std::chrono::milliseconds(10), [&] { order.push_back(2); });
    auto canceled = loop.addTimer(std::chrono::milliseconds(5), [&] { order.push_back(99); });
    loop.cancelTimer(canceled);
    std::thread poster([&] { loop.post([&] { order.push_back(1); }); });
    poster.join();
    loop.addTimer(std::chrono::milliseconds(50), [&] { loop.quit(5); });
    CHECK(loop.run() == 5);
    CHECK(order == std::vector<int>{1, 2, 3});
}

TEST_CASE("runUntil returns as soon as its condition holds")
{
    EventLoop loop;
    bool flag = false;
    loop.post([&] { flag = true; });
    auto start = std::chrono::steady_clock::now();
    CHECK(loop.runUntil([&] { return flag; }));
    CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}
