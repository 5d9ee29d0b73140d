#include "errors.h"
#include "job.h"
#include "machine-store.h"
#include "os-tree.h"
#include "temp-dir.h"
#include "tree-removal.h"

#include "catch.h"
#include <fcntl.h>
#include <sys/stat.h>

using namespace bred;
using bred::test::makeOsTree;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

Config testConfig(const TempDir& dir)
{
    Config config;
    config.machinesDirectory = dir.path() / "machines";
    config.settingsDirectory = dir.path() / "nspawn";
    config.unitDirectory = dir.path() / "units";
    std::filesystem::create_directories(config.settingsDirectory);
    return config;
}

// Runs `work` as a job to its end and returns the job.
std::unique_ptr<Job> runJob(Job::Work work)
{
    auto job = std::make_unique<Job>(1, "test", "m", "remove", 0);
    job->start(std::move(work));
    job->join();
    return job;
}

} // namespace

TEST_CASE("only OS trees with valid names are machines")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    makeOsTree(config.machinesDirectory / "deb");
    makeOsTree(config.machinesDirectory / ".hidden");
    makeOsTree(config.machinesDirectory / "bad_name");
    std::filesystem::create_directories(config.machinesDirectory / "empty");
    writeFile(config.machinesDirectory / "file.raw", "x");

    auto names = store.candidateNames();
    std::sort(names.begin(), names.end());
    CHECK(names == std::vector<std::string>{"deb", "empty"});
    CHECK(store.inspect("deb").has_value());
    CHECK_FALSE(store.inspect("empty").has_value());
    CHECK_FALSE(store.inspect("bad_name").has_value());
    CHECK_FALSE(store.inspect("../machines/deb").has_value());
}

TEST_CASE("a machine's properties come from its tree and settings")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    makeOsTree(config.machinesDirectory / "web", "archarm");
    writeFile(config.settingsDirectory / "web.nspawn", "[Files]\nBindReadOnly=/srv:/srv\n[Network]\nBridge=br0\n");
    std::filesystem::create_directories(config.unitDirectory / "machines.target.wants");
    std::filesystem::create_symlink("/usr/lib/systemd/system/systemd-nspawn@.service",
                                    config.unitDirectory / "machines.target.wants/systemd-nspawn@web.service");

    auto info = store.inspect("web");
    REQUIRE(info);
    CHECK(info->name == "web");
    CHECK(info->directory == config.machinesDirectory / "web");
    CHECK(info->machineClass == MachineClass::Container);
    CHECK_FALSE(info->readOnly);
    CHECK(info->osRelease["ID"] == "archarm");
    CHECK(info->binds == std::vector<BindMount>{{"/srv", "/srv", true}});
    CHECK(info->network.mode == "bridge");
    CHECK(info->enabled);
}

TEST_CASE("rename moves the tree and its settings, and never replaces")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    makeOsTree(config.machinesDirectory / "a");
    makeOsTree(config.machinesDirectory / "b");
    writeFile(config.settingsDirectory / "a.nspawn", "[Network]\nVirtualEthernet=yes\n");

    store.rename("a", "c");
    CHECK(store.inspect("c").has_value());
    CHECK_FALSE(store.inspect("a").has_value());
    CHECK(std::filesystem::exists(config.settingsDirectory / "c.nspawn"));
    CHECK_FALSE(std::filesystem::exists(config.settingsDirectory / "a.nspawn"));

    try {
        store.rename("c", "b");
        FAIL("rename onto an existing machine succeeded");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::AlreadyExists);
    }
    CHECK(store.inspect("b")->osRelease["ID"] == "debian");
    CHECK(store.inspect("c").has_value());

    writeFile(config.settingsDirectory / "d.nspawn", "");
    CHECK_THROWS_AS(store.rename("c", "d"), Error);
    CHECK(store.inspect("c").has_value());
    CHECK_THROWS_AS(store.rename("nope", "e"), Error);
}

TEST_CASE("remove deletes the tree and settings without following symlinks")
{
    TempDir dir;
    TempDir outside;
    writeFile(outside.path() / "precious", "keep me");
    auto config = testConfig(dir);
    MachineStore store(config);
    auto tree = config.machinesDirectory / "gone";
    makeOsTree(tree);
    writeFile(tree / "var/lib/deep/file", "x");
    std::filesystem::create_symlink(outside.path(), tree / "link-to-outside");
    std::filesystem::create_symlink(outside.path() / "precious", tree / "var/link-to-file");
    writeFile(config.settingsDirectory / "gone.nspawn", "");

    auto job = runJob([&](JobContext& context) { store.remove("gone", context); });
    CHECK(job->progress().state == JobState::Done);
    CHECK_FALSE(std::filesystem::exists(tree));
    CHECK_FALSE(std::filesystem::exists(config.settingsDirectory / "gone.nspawn"));
    CHECK(std::filesystem::exists(outside.path() / "precious"));
    CHECK(std::filesystem::is_empty(config.machinesDirectory));
    bool logged = false;
    for (const auto& line : job->takeLogLines())
        logged = logged || line.line.find("Removed machine 'gone'") != std::string::npos;
    CHECK(logged);
}

TEST_CASE("a canceled remove leaves the machine as it was")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    makeOsTree(config.machinesDirectory / "kept");
    auto job = std::make_unique<Job>(1, "remove", "kept", "remove", 0);
    job->requestCancel();
    job->start([&](JobContext& context) { store.remove("kept", context); });
    job->join();
    CHECK(job->progress().state == JobState::Canceled);
    CHECK(store.inspect("kept").has_value());
}

TEST_CASE("remove of a missing machine fails with NoSuchMachine")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    auto job = runJob([&](JobContext& context) { store.remove("nope", context); });
    CHECK(job->progress().state == JobState::Failed);
    REQUIRE(job->failure());
    CHECK(job->failure()->code() == ErrorCode::NoSuchMachine);
}

TEST_CASE("leftovers of interrupted jobs are removed, other hidden entries are not")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    makeOsTree(config.machinesDirectory / ".#bred-clone-x-1234");
    writeFile(config.machinesDirectory / ".#bred-partial", "x");
    makeOsTree(config.machinesDirectory / ".#importd-transfer");
    writeFile(config.settingsDirectory / "web.nspawn.#bred-0badf00d", "[Files]\n");
    writeFile(config.unitDirectory / "systemd-nspawn@web.service.d" / ".#bred-0badf00d", "[Service]\n");
    writeFile(config.settingsDirectory / "web.nspawn", "[Files]\n");
    auto done = store.recoverInterruptedJobs();
    CHECK(done.size() == 4);
    CHECK_FALSE(std::filesystem::exists(config.machinesDirectory / ".#bred-clone-x-1234"));
    CHECK_FALSE(std::filesystem::exists(config.machinesDirectory / ".#bred-partial"));
    CHECK(std::filesystem::exists(config.machinesDirectory / ".#importd-transfer"));
    CHECK_FALSE(std::filesystem::exists(config.settingsDirectory / "web.nspawn.#bred-0badf00d"));
    CHECK_FALSE(std::filesystem::exists(config.unitDirectory / "systemd-nspawn@web.service.d" / ".#bred-0badf00d"));
    CHECK(std::filesystem::exists(config.settingsDirectory / "web.nspawn"));
    CHECK(store.recoverInterruptedJobs().empty());
}

TEST_CASE("a removal the daemon began is finished at the next start, settings too")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    // Killed after moving the tree aside: the settings go too.
    makeOsTree(config.machinesDirectory / ".#bred-remove-gone.example-0badf00d");
    writeFile(config.settingsDirectory / "gone.example.nspawn", "[Files]\n");
    // A machine of that name made since keeps its settings.
    makeOsTree(config.machinesDirectory / ".#bred-remove-back-0badf00d");
    makeOsTree(config.machinesDirectory / "back");
    writeFile(config.settingsDirectory / "back.nspawn", "[Files]\n");
    auto done = store.recoverInterruptedJobs();
    CHECK(done.size() == 3);
    CHECK_FALSE(std::filesystem::exists(config.settingsDirectory / "gone.example.nspawn"));
    CHECK(std::filesystem::exists(config.settingsDirectory / "back.nspawn"));
    CHECK(store.inspect("back"));
    CHECK(store.candidateNames() == std::vector<std::string>{"back"});
}

TEST_CASE("a template installed but not yet marked read-only is marked at the next start", "[root]")
{
    if (geteuid() != 0)
        return; // the immutable attribute needs CAP_LINUX_IMMUTABLE
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    auto tree = config.machinesDirectory / "tmpl";
    makeOsTree(tree);
    makeOsTree(config.machinesDirectory / "other");
    UniqueFd fd(open(tree.c_str(), O_RDONLY | O_DIRECTORY));
    UniqueFd otherFd(open((config.machinesDirectory / "other").c_str(), O_RDONLY | O_DIRECTORY));
    try {
        setTreeReadOnly(fd.get(), true);
        setTreeReadOnly(fd.get(), false);
    } catch (const Error&) {
        return; // the filesystem of the temporary directory has no attributes
    }
    {
        PendingTemplate pending(store, "tmpl", fd.get());
        CHECK(store.recoverInterruptedJobs().size() == 2); // marked, and the marker removed
        CHECK(store.inspect("tmpl")->machineClass == MachineClass::Template);
    }
    setTreeReadOnly(fd.get(), false);
    {
        // A marker for a name that now holds another tree changes nothing there.
        PendingTemplate pending(store, "tmpl", otherFd.get());
        CHECK(store.recoverInterruptedJobs().size() == 1);
        CHECK(store.inspect("tmpl")->machineClass == MachineClass::Container);
    }
    // Once the install is through, its marker is gone.
    CHECK(store.recoverInterruptedJobs().empty());
}

TEST_CASE("templates are read-only trees, and stay so across a rename", "[root]")
{
    // Registered as its own meson test, skipped (77) without root: the
    // immutable attribute needs CAP_LINUX_IMMUTABLE.
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    auto tree = config.machinesDirectory / "tmpl";
    makeOsTree(tree);
    UniqueFd fd(open(tree.c_str(), O_RDONLY | O_DIRECTORY));
    // A temporary directory on a filesystem without attributes fails here.
    REQUIRE_NOTHROW(setTreeReadOnly(fd.get(), true));
    CHECK(store.inspect("tmpl")->machineClass == MachineClass::Template);
    store.rename("tmpl", "tmpl2");
    auto info = store.inspect("tmpl2");
    REQUIRE(info);
    CHECK(info->readOnly);
    auto job = runJob([&](JobContext& context) { store.remove("tmpl2", context); });
    CHECK(job->progress().state == JobState::Done);
    CHECK_FALSE(std::filesystem::exists(config.machinesDirectory / "tmpl2"));
}

TEST_CASE("tree entries are counted without following symlinks")
{
    TempDir dir;
    writeFile(dir.path() / "t/a/b/c", "x");
    std::filesystem::create_symlink("/", dir.path() / "t/root-link");
    UniqueFd fd(open((dir.path() / "t").c_str(), O_RDONLY | O_DIRECTORY));
    CHECK(countTreeEntries(fd.get()) == 4);
}

TEST_CASE("containers made before get their start settings once; templates and other files are left alone")
{
    TempDir dir;
    auto config = testConfig(dir);
    MachineStore store(config);
    makeOsTree(config.machinesDirectory / "old");
    makeOsTree(config.machinesDirectory / "bare");
    makeOsTree(config.machinesDirectory / "linked");
    writeFile(config.settingsDirectory / "old.nspawn", "# mine\n[Files]\nBind=/srv:/srv\n");
    writeFile(dir.path() / "elsewhere.nspawn", "[Files]\n");
    std::filesystem::create_symlink(dir.path() / "elsewhere.nspawn", config.settingsDirectory / "linked.nspawn");
    writeFile(config.settingsDirectory / "not-a-machine.nspawn", "[Files]\n");

    bool reloadNeeded = false;
    auto done = store.addMissingStartSettings(reloadNeeded);
    CHECK(reloadNeeded);
    CHECK(done.size() == 3); // old, bare, and linked left as it is
    auto old = store.readSettings("old");
    CHECK(old.starts_with("# mine\n[Files]\nBind=/srv:/srv\n"));
    CHECK_THAT(old, ContainsSubstring("PrivateUsers=no\n"));
    CHECK_THAT(store.readSettings("bare"), ContainsSubstring("VirtualEthernet=no\n"));
    auto dropIn = config.unitDirectory / "systemd-nspawn@bare.service.d" / "50-bred-machined.conf";
    CHECK(std::filesystem::is_regular_file(dropIn));
    CHECK(store.readSettings("linked") == "[Files]\n");
    CHECK_FALSE(std::filesystem::exists(config.unitDirectory / "systemd-nspawn@linked.service.d"));
    CHECK(store.readSettings("not-a-machine") == "[Files]\n");

    // Idempotent: nothing to do the second time.
    std::filesystem::remove(config.settingsDirectory / "linked.nspawn");
    std::filesystem::remove_all(config.machinesDirectory / "linked");
    CHECK(store.addMissingStartSettings(reloadNeeded).empty());
    CHECK_FALSE(reloadNeeded);

    // The drop-in goes with the machine.
    auto job = runJob([&](JobContext& context) { store.remove("bare", context); });
    CHECK_FALSE(std::filesystem::exists(dropIn.parent_path()));
}
