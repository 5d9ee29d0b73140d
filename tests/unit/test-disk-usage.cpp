// treeDiskUsage: what `du -s -B1 --one-file-system` counts, in a hostile tree;
// and DiskUsageMeter, which walks one tree at a time off the loop.
#include "disk-usage-meter.h"
#include "disk-usage.h"
#include "error-code.h"
#include "temp-dir.h"

#include "catch.h"
#include <chrono>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <sys/stat.h>
#include <unistd.h>

using namespace bred;
using bred::test::errorCodeOf;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

const auto neverStop = [] { return false; };

std::uint64_t allocated(const std::filesystem::path& path)
{
    struct stat st { };
    REQUIRE(lstat(path.c_str(), &st) == 0);
    return std::uint64_t(st.st_blocks) * 512;
}

// The usage of the tree at `root`, counted as the walk should (lstat; each inode once).
std::uint64_t expectedUsage(const std::filesystem::path& root)
{
    std::set<std::pair<dev_t, ino_t>> seen;
    std::uint64_t bytes = 0;
    auto count = [&](const std::filesystem::path& path) {
        struct stat st { };
        REQUIRE(lstat(path.c_str(), &st) == 0);
        if (seen.insert({st.st_dev, st.st_ino}).second)
            bytes += std::uint64_t(st.st_blocks) * 512;
    };
    count(root);
    for (const auto& entry : std::filesystem::recursive_directory_iterator(root))
        count(entry.path());
    return bytes;
}

const std::string megabyte(1 << 20, 'x');

} // namespace

TEST_CASE("treeDiskUsage adds up the blocks of every entry")
{
    TempDir dir;
    auto root = dir.path() / "machine";
    writeFile(root / "etc/os-release", "ID=debian\n");
    writeFile(root / "usr/lib/big", megabyte);
    writeFile(root / "var/empty-file", "");
    std::filesystem::create_directories(root / "home/empty-dir");
    auto usage = treeDiskUsage(root, neverStop);
    REQUIRE(usage);
    CHECK(*usage == expectedUsage(root));
    CHECK(*usage >= megabyte.size());
}

TEST_CASE("treeDiskUsage counts a hard-linked file once")
{
    TempDir dir;
    auto root = dir.path() / "machine";
    writeFile(root / "a/big", megabyte);
    auto before = treeDiskUsage(root, neverStop);
    std::filesystem::create_hard_link(root / "a/big", root / "big-again");
    std::filesystem::create_hard_link(root / "a/big", root / "a/big-third");
    auto after = treeDiskUsage(root, neverStop);
    REQUIRE(before);
    REQUIRE(after);
    // The root directory may grow by a block for the new names, never by the file again.
    CHECK(*after < *before + megabyte.size());
    CHECK(*after == expectedUsage(root));
}

TEST_CASE("treeDiskUsage follows no symlink")
{
    TempDir dir;
    auto root = dir.path() / "machine";
    auto outside = dir.path() / "outside";
    writeFile(outside / "big", megabyte);
    writeFile(root / "etc/hostname", "box\n");
    std::filesystem::create_directory_symlink("/", root / "host-root");
    std::filesystem::create_directory_symlink(outside, root / "outside-dir");
    std::filesystem::create_symlink(outside / "big", root / "outside-file");
    auto usage = treeDiskUsage(root, neverStop);
    REQUIRE(usage);
    CHECK(*usage < megabyte.size());
    CHECK(*usage == expectedUsage(root));

    // The top itself must be a directory, not a symlink to one.
    std::filesystem::create_directory_symlink(outside, dir.path() / "link");
    CHECK(errorCodeOf([&] { treeDiskUsage(dir.path() / "link", neverStop); }) == ErrorCode::Failed);
    CHECK(errorCodeOf([&] { treeDiskUsage(dir.path() / "missing", neverStop); }) == ErrorCode::Failed);
}

TEST_CASE("treeDiskUsage does not enter directories deeper than its limit")
{
    TempDir dir;
    auto root = dir.path() / "machine";
    std::filesystem::path deep = root;
    for (unsigned level = 0; level <= maxDiskUsageDepth; ++level)
        deep /= "d";
    writeFile(deep / "big", megabyte);
    auto usage = treeDiskUsage(root, neverStop);
    REQUIRE(usage);
    // The deepest directory, one level below the limit, is counted but not entered.
    CHECK(*usage + allocated(deep / "big") == expectedUsage(root));
}

TEST_CASE("treeDiskUsage stops when asked")
{
    TempDir dir;
    auto root = dir.path() / "machine";
    writeFile(root / "a/b/file", "x");
    CHECK_FALSE(treeDiskUsage(root, [] { return true; }));
    unsigned asked = 0;
    CHECK(treeDiskUsage(root, [&asked] { return ++asked > 1; }) == std::nullopt);
}

TEST_CASE("DiskUsageMeter measures each machine once however often it is asked, until the loop has the value")
{
    TempDir dir;
    writeFile(dir.path() / "a/big", megabyte);
    writeFile(dir.path() / "b/small", "x");
    // The loop, as the test plays it: posted tasks wait until the test runs them.
    std::mutex mutex;
    std::vector<DiskUsageMeter::Task> posted;
    std::map<std::string, std::vector<std::uint64_t>> measured;
    DiskUsageMeter meter(
        [&](DiskUsageMeter::Task task) {
            std::lock_guard lock(mutex);
            posted.push_back(std::move(task));
        },
        [&](const std::string& name, std::uint64_t bytes) { measured[name].push_back(bytes); });
    auto postedCount = [&] {
        std::lock_guard lock(mutex);
        return posted.size();
    };
    auto runPosted = [&] {
        std::vector<DiskUsageMeter::Task> tasks;
        {
            std::lock_guard lock(mutex);
            tasks.swap(posted);
        }
        for (auto& task : tasks)
            task();
    };
    auto waitForPosted = [&](std::size_t count) {
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        while (postedCount() < count && std::chrono::steady_clock::now() < deadline)
            std::this_thread::sleep_for(std::chrono::milliseconds(5));
        // Anything more would come now.
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
    };

    meter.request("a", dir.path() / "a");
    meter.request("a", dir.path() / "a");
    meter.request("b", dir.path() / "b");
    meter.request("a", dir.path() / "a");
    meter.request("gone", dir.path() / "missing");
    waitForPosted(2);
    CHECK(postedCount() == 2);
    runPosted();
    REQUIRE(measured["a"].size() == 1);
    REQUIRE(measured["b"].size() == 1);
    CHECK(measured["a"][0] == expectedUsage(dir.path() / "a"));
    CHECK(measured["b"][0] == expectedUsage(dir.path() / "b"));
    CHECK(measured.count("gone") == 0);

    // Once the loop has the value, asking again measures again.
    meter.request("a", dir.path() / "a");
    waitForPosted(1);
    runPosted();
    CHECK(measured["a"].size() == 2);
}
