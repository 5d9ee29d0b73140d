#include "event-loop.h"
#include "job-manager.h"
#include "log-fields.h"

#include "catch.h"
#include <chrono>
#include <functional>
#include <thread>

using namespace bred;

TEST_CASE("the job limit and one job per machine are enforced")
{
    JobManager jobs(2, 2);
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

TEST_CASE("one caller holds at most its own share of the jobs; root is not limited")
{
    JobManager jobs(6, 2);
    auto tooMany = [&](uid_t uid, const std::string& machine) -> std::string {
        try {
            jobs.admit("import", {machine}, "create-template", uid);
        } catch (const Error& error) {
            CHECK(error.code() == ErrorCode::TooManyJobs);
            return error.what();
        }
        return {};
    };
    auto a1 = jobs.admit("import", {"a1"}, "create-template", 1000);
    auto a2 = jobs.admit("import", {"a2"}, "create-template", 1000);
    auto refusal = tooMany(1000, "a3");
    CHECK_THAT(refusal, ContainsSubstring("per caller"));
    CHECK_THAT(refusal, ContainsSubstring("uid 1000"));
    // Others, and root, still get theirs.
    auto b1 = jobs.admit("import", {"b1"}, "create-template", 1001);
    auto r1 = jobs.admit("import", {"r1"}, "create-template", 0);
    auto r2 = jobs.admit("import", {"r2"}, "create-template", 0);
    auto r3 = jobs.admit("import", {"r3"}, "create-template", 0);
    // Now the global limit is reached, for root too, and the message says which.
    CHECK_THAT(tooMany(0, "r4"), ContainsSubstring("all callers together"));
    CHECK_THAT(tooMany(1001, "b2"), ContainsSubstring("all callers together"));
    // A finished job gives its caller a slot back.
    jobs.release(r3->id());
    jobs.release(a1->id());
    CHECK(jobs.admit("import", {"a3"}, "create-template", 1000));
    CHECK_THAT(tooMany(1000, "a4"), ContainsSubstring("per caller"));
}

TEST_CASE("a hold keeps jobs off its machines until released")
{
    JobManager jobs(4, 4);
    auto busy = [&](const std::function<void()>& attempt) {
        try {
            attempt();
        } catch (const Error& error) {
            return error.code() == ErrorCode::Busy;
        }
        return false;
    };
    auto hold = jobs.hold({"old", "new"});
    CHECK(jobs.isMachineHeld("old"));
    CHECK(busy([&] { jobs.admit("start", {"old"}, "manage", 1000); }));
    CHECK(busy([&] { jobs.admit("clone", {"copy"}, "clone", 1000, {"new"}); }));
    CHECK(busy([&] { jobs.hold({"new"}); }));
    hold->release();
    hold->release();
    CHECK_FALSE(jobs.isMachineHeld("old"));
    auto start = jobs.admit("start", {"old"}, "manage", 1000);
    CHECK(busy([&] { jobs.hold({"old", "other"}); }));
    // A refused hold holds nothing.
    CHECK_FALSE(jobs.isMachineHeld("other"));
    {
        auto scoped = jobs.hold({"other"});
    }
    CHECK_FALSE(jobs.isMachineHeld("other"));
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

TEST_CASE("a job's journal lines carry its machine and job id; other threads' do not")
{
    Job job(42, "test", "web", "remove", 0);
    LogFields seen;
    job.start([&](JobContext&) { seen = currentLogFields(); });
    job.join();
    CHECK(seen.machine == "web");
    CHECK(seen.job == "42");
    CHECK(currentLogFields().machine.empty());
    {
        ScopedLogFields outer({"a", "1"});
        {
            ScopedLogFields inner({"b", "2"});
            CHECK(currentLogFields().machine == "b");
        }
        CHECK(currentLogFields().machine == "a");
        CHECK(currentLogFields().job == "1");
    }
    CHECK(currentLogFields().job.empty());
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

TEST_CASE("loop work ends through its finish callback, and a cancel waits for the undoing")
{
    SECTION("done and failed")
    {
        auto job = std::make_shared<Job>(1, "start", "m", "manage", 0);
        Job::Finish finish;
        job->startOnLoop([&](Job::Finish f) { finish = std::move(f); }, {});
        CHECK(job->progress().state == JobState::Running);
        finish(std::nullopt);
        CHECK(job->progress().state == JobState::Done);

        auto failing = std::make_shared<Job>(2, "start", "m", "manage", 0);
        failing->startOnLoop([](Job::Finish f) { f(Error(ErrorCode::Failed, "unit failed")); }, {});
        CHECK(failing->progress().state == JobState::Failed);
        REQUIRE(failing->failure());
        CHECK(std::string(failing->failure()->what()) == "unit failed");
    }
    SECTION("without a cancel handler it cannot be canceled")
    {
        auto job = std::make_shared<Job>(1, "stop", "m", "manage", 0);
        Job::Finish finish;
        job->startOnLoop([&](Job::Finish f) { finish = std::move(f); }, {});
        CHECK_FALSE(job->requestCancel());
        finish(std::nullopt);
        CHECK(job->progress().state == JobState::Done);
    }
    SECTION("canceled: ends once both the work and its undoing ended")
    {
        auto job = std::make_shared<Job>(1, "start", "m", "manage", 0);
        Job::Finish finish, undone;
        int undoings = 0;
        job->startOnLoop([&](Job::Finish f) { finish = std::move(f); },
                         [&](Job::Finish u) {
                             ++undoings;
                             undone = std::move(u);
                         });
        CHECK(job->requestCancel());
        CHECK(job->requestCancel());
        CHECK(undoings == 1);
        finish(Error(ErrorCode::Failed, "systemd's job ended 'canceled'"));
        CHECK(job->progress().state == JobState::Running);
        undone(std::nullopt);
        CHECK(job->progress().state == JobState::Canceled);
        CHECK_FALSE(job->failure());
    }
    SECTION("a failed undoing fails the job")
    {
        auto job = std::make_shared<Job>(1, "start", "m", "manage", 0);
        Job::Finish finish;
        job->startOnLoop([&](Job::Finish f) { finish = std::move(f); },
                         [](Job::Finish u) { u(Error(ErrorCode::Failed, "cannot stop")); });
        CHECK(job->requestCancel());
        finish(std::nullopt);
        CHECK(job->progress().state == JobState::Failed);
        REQUIRE(job->failure());
        CHECK(std::string(job->failure()->what()) == "cannot stop");
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
