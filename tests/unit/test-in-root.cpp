#include "error-code.h"
#include "in-root.h"
#include "temp-dir.h"

#include "catch.h"
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <sstream>
#include <csignal>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

using namespace bred;
using bred::test::errorCodeOf;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

UniqueFd openDir(const std::filesystem::path& path) { return UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY)); }

std::string contentOf(const std::filesystem::path& path)
{
    std::ifstream file(path);
    std::ostringstream text;
    text << file.rdbuf();
    return text.str();
}

// The writer's temporary files left in `directory`, if any.
std::vector<std::string> temporaries(const std::filesystem::path& directory)
{
    std::vector<std::string> found;
    for (const auto& entry : std::filesystem::directory_iterator(directory))
        if (entry.path().filename().string().starts_with(".#bred-"))
            found.push_back(entry.path().filename().string());
    return found;
}

void makeSocket(const std::filesystem::path& path)
{
    UniqueFd fd(socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof address.sun_path);
    std::strncpy(address.sun_path, path.c_str(), sizeof address.sun_path - 1);
    REQUIRE(bind(fd.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
}

// The error message replaceFileInRoot gives, checking it is NotSupported.
std::string refusal(int rootFd, const std::string& path)
{
    try {
        replaceFileInRoot(rootFd, path, "written\n");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::NotSupported);
        return error.what();
    }
    FAIL("the write was not refused");
    return {};
}

} // namespace

TEST_CASE("a regular file in a tree is replaced whole, keeping its mode")
{
    TempDir tree;
    writeFile(tree.path() / "etc/hostname", "old\n");
    chmod((tree.path() / "etc/hostname").c_str(), 0600);
    struct stat before { };
    REQUIRE(stat((tree.path() / "etc/hostname").c_str(), &before) == 0);
    // A reader holding the old file keeps reading the old content: nothing was written into it.
    UniqueFd reader(open((tree.path() / "etc/hostname").c_str(), O_RDONLY));
    auto fd = openDir(tree.path());
    replaceFileInRoot(fd.get(), "/etc/hostname", "new\n");
    struct stat after { };
    REQUIRE(stat((tree.path() / "etc/hostname").c_str(), &after) == 0);
    CHECK(contentOf(tree.path() / "etc/hostname") == "new\n");
    CHECK(after.st_ino != before.st_ino);
    CHECK((after.st_mode & 07777) == 0600);
    char old[8] = {};
    CHECK(pread(reader.get(), old, sizeof old - 1, 0) == 4);
    CHECK(std::string(old) == "old\n");
    CHECK(temporaries(tree.path() / "etc").empty());

    replaceFileInRoot(fd.get(), "etc/new-file", "");
    REQUIRE(stat((tree.path() / "etc/new-file").c_str(), &after) == 0);
    CHECK(S_ISREG(after.st_mode));
    CHECK(after.st_size == 0);
    CHECK((after.st_mode & 07777) == 0644);
    CHECK(temporaries(tree.path() / "etc").empty());
}

TEST_CASE("FIFOs, sockets and directories in a tree are refused, never opened")
{
    TempDir tree;
    std::filesystem::create_directories(tree.path() / "etc/directory");
    REQUIRE(mkfifo((tree.path() / "etc/fifo").c_str(), 0644) == 0);
    makeSocket(tree.path() / "etc/socket");
    auto fd = openDir(tree.path());
    // Opening the FIFO for writing would block this test for good.
    CHECK_THAT(refusal(fd.get(), "etc/fifo"), ContainsSubstring("/etc/fifo") && ContainsSubstring("a FIFO"));
    CHECK_THAT(refusal(fd.get(), "etc/socket"), ContainsSubstring("a socket"));
    CHECK_THAT(refusal(fd.get(), "etc/directory"), ContainsSubstring("a directory"));
    struct stat st { };
    REQUIRE(lstat((tree.path() / "etc/fifo").c_str(), &st) == 0);
    CHECK(S_ISFIFO(st.st_mode));
    CHECK(temporaries(tree.path() / "etc").empty());
    // Reading refuses them too, at once.
    CHECK_FALSE(readFileInRoot(fd.get(), "etc/fifo", 1024).has_value());
    CHECK_FALSE(readFileInRoot(fd.get(), "etc/socket", 1024).has_value());
    CHECK_FALSE(readFileHeadInRoot(fd.get(), "etc/fifo", 4).has_value());
    CHECK_FALSE(openRegularFileInRoot(fd.get(), "etc/directory"));
}

TEST_CASE("device nodes in a tree are refused for writing and reading", "[root]")
{
    // Run by the "(root)" meson test, skipped without root: making device nodes needs root.
    TempDir tree;
    std::filesystem::create_directories(tree.path() / "etc");
    // A loop device and /dev/null's numbers: whatever they are on this host, they are never opened.
    REQUIRE(mknod((tree.path() / "etc/block").c_str(), S_IFBLK | 0644, makedev(7, 0)) == 0);
    REQUIRE(mknod((tree.path() / "etc/char").c_str(), S_IFCHR | 0644, makedev(1, 3)) == 0);
    auto fd = openDir(tree.path());
    CHECK_THAT(refusal(fd.get(), "etc/block"), ContainsSubstring("a block device"));
    CHECK_THAT(refusal(fd.get(), "etc/char"), ContainsSubstring("a character device"));
    struct stat st { };
    REQUIRE(lstat((tree.path() / "etc/block").c_str(), &st) == 0);
    CHECK(S_ISBLK(st.st_mode));
    CHECK(temporaries(tree.path() / "etc").empty());
    CHECK_FALSE(readFileInRoot(fd.get(), "etc/char", 1024).has_value());
    UniqueFd block = openRegularFileInRoot(fd.get(), "etc/block");
    int openErrno = errno;
    CHECK_FALSE(block);
    CHECK(openErrno == EINVAL);
}

TEST_CASE("symlinks are followed inside the tree, never out of it")
{
    TempDir outside;
    writeFile(outside.path() / "host-file", "host\n");
    TempDir tree;
    std::filesystem::create_directories(tree.path() / "etc");
    auto fd = openDir(tree.path());

    SECTION("an absolute symlink to a host path writes the tree's file of that name")
    {
        std::filesystem::create_directories(tree.path() / outside.path().relative_path());
        std::filesystem::create_symlink(outside.path() / "host-file", tree.path() / "etc/hostname");
        replaceFileInRoot(fd.get(), "etc/hostname", "name\n");
        CHECK(contentOf(tree.path() / outside.path().relative_path() / "host-file") == "name\n");
        CHECK(std::filesystem::is_symlink(tree.path() / "etc/hostname"));
    }
    SECTION("a symlink climbing above the root stops at the root")
    {
        std::filesystem::create_symlink("../../../../../../.." + outside.path().string() + "/host-file",
                                        tree.path() / "etc/hostname");
        // The host path's directories do not exist in the tree.
        CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "etc/hostname", "name\n"); }) == ErrorCode::Failed);
    }
    SECTION("a directory symlink to a host path")
    {
        std::filesystem::remove(tree.path() / "etc");
        std::filesystem::create_symlink(outside.path(), tree.path() / "etc");
        CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "etc/host-file", "name\n"); }) == ErrorCode::Failed);
    }
    SECTION("with Replace, the symlink itself is replaced")
    {
        std::filesystem::create_symlink(outside.path() / "host-file", tree.path() / "etc/hostname");
        replaceFileInRoot(fd.get(), "etc/hostname", "name\n", FinalSymlink::Replace);
        CHECK_FALSE(std::filesystem::is_symlink(tree.path() / "etc/hostname"));
        CHECK(contentOf(tree.path() / "etc/hostname") == "name\n");
    }
    CHECK(contentOf(outside.path() / "host-file") == "host\n");
    CHECK(temporaries(outside.path()).empty());
}

TEST_CASE("symlink chains lead to the file the container sees")
{
    TempDir tree;
    writeFile(tree.path() / "usr/share/real.conf", "old\n");
    std::filesystem::create_directories(tree.path() / "etc");
    std::filesystem::create_symlink("middle.conf", tree.path() / "etc/app.conf");
    std::filesystem::create_symlink("/usr/share/real.conf", tree.path() / "etc/middle.conf");
    std::filesystem::create_symlink("loop-b", tree.path() / "etc/loop-a");
    std::filesystem::create_symlink("loop-a", tree.path() / "etc/loop-b");
    std::filesystem::create_symlink("../dev/fifo", tree.path() / "etc/to-fifo");
    std::filesystem::create_directories(tree.path() / "dev");
    REQUIRE(mkfifo((tree.path() / "dev/fifo").c_str(), 0644) == 0);
    std::filesystem::create_symlink("/var/missing/file", tree.path() / "etc/dangling-dir");
    std::filesystem::create_directories(tree.path() / "var");
    std::filesystem::create_symlink("/var/new-file", tree.path() / "etc/dangling");
    auto fd = openDir(tree.path());

    replaceFileInRoot(fd.get(), "etc/app.conf", "new\n");
    CHECK(contentOf(tree.path() / "usr/share/real.conf") == "new\n");
    CHECK(std::filesystem::is_symlink(tree.path() / "etc/app.conf"));
    CHECK(std::filesystem::is_symlink(tree.path() / "etc/middle.conf"));

    CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "etc/loop-a", "x"); }) == ErrorCode::Failed);
    CHECK_THAT(refusal(fd.get(), "etc/to-fifo"), ContainsSubstring("/dev/fifo") && ContainsSubstring("/etc/to-fifo"));
    CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "etc/dangling-dir", "x"); }) == ErrorCode::Failed);
    // A dangling symlink gets its target, as a write by the container would make it.
    replaceFileInRoot(fd.get(), "etc/dangling", "made\n");
    CHECK(contentOf(tree.path() / "var/new-file") == "made\n");
    CHECK(temporaries(tree.path() / "etc").empty());
    CHECK(temporaries(tree.path() / "dev").empty());
}

TEST_CASE("paths that name no file are refused")
{
    TempDir tree;
    auto fd = openDir(tree.path());
    CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "/", "x"); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "etc/..", "x"); }) == ErrorCode::InvalidArgs);
    CHECK(errorCodeOf([&] { replaceFileInRoot(fd.get(), "missing-dir/file", "x"); }) == ErrorCode::Failed);
}

TEST_CASE("directories and symlinks are made inside the tree")
{
    TempDir outside;
    TempDir tree;
    std::filesystem::create_directories(tree.path() / "etc");
    // A dangling directory symlink to a host path: its target is made in the tree.
    std::filesystem::create_symlink(outside.path() / "network", tree.path() / "etc/network");
    auto fd = openDir(tree.path());
    makeDirectoriesInRoot(fd.get(), "etc/network/deeper");
    CHECK(std::filesystem::is_directory(tree.path() / outside.path().relative_path() / "network/deeper"));
    CHECK(std::filesystem::is_empty(outside.path()));
    makeSymlinkInRoot(fd.get(), "etc/network/deeper/link", "/target");
    CHECK(std::filesystem::read_symlink(tree.path() / outside.path().relative_path() / "network/deeper/link") ==
          "/target");
    // An entry of that name stays as it is.
    makeSymlinkInRoot(fd.get(), "etc/network/deeper/link", "/other");
    CHECK(std::filesystem::read_symlink(tree.path() / outside.path().relative_path() / "network/deeper/link") ==
          "/target");
}

namespace {

// A tmpfs of `size` mounted over a fresh directory for the life of the test.
class SmallFilesystem {
public:
    explicit SmallFilesystem(const std::string& size)
    {
        std::string options = "size=" + size + ",mode=0755";
        REQUIRE(mount("bred-test", dir_.path().c_str(), "tmpfs", 0, options.c_str()) == 0);
    }
    ~SmallFilesystem() { umount2(dir_.path().c_str(), MNT_DETACH); }
    const std::filesystem::path& path() const { return dir_.path(); }

private:
    TempDir dir_;
};

std::vector<std::string> entriesOf(const std::filesystem::path& directory)
{
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(directory))
        names.push_back(entry.path().filename().string());
    return names;
}

} // namespace

TEST_CASE("a write that runs out of space keeps the old file and leaves nothing", "[root]")
{
    // Run by the "(root)" meson test: mounting a small filesystem needs root.
    SmallFilesystem tree("256k");
    writeFile(tree.path() / "etc/hostname", "old\n");
    auto fd = openDir(tree.path());
    try {
        replaceFileInRoot(fd.get(), "etc/hostname", std::string(1 << 20, 'x'));
        FAIL("a 1 MiB write to a 256 KiB filesystem succeeded");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::Failed);
        CHECK_THAT(error.what(),
                   ContainsSubstring("cannot write /etc/hostname") && ContainsSubstring(std::strerror(ENOSPC)));
    }
    CHECK(contentOf(tree.path() / "etc/hostname") == "old\n");
    CHECK(entriesOf(tree.path() / "etc") == std::vector<std::string>{"hostname"});
}

TEST_CASE("a writer killed in the middle of a write leaves nothing behind", "[root]")
{
    // Fault injection: a child process writes a large file and is killed with
    // SIGKILL as soon as the filesystem fills up, i.e. in the middle of it.
    SmallFilesystem tree("1g");
    writeFile(tree.path() / "etc/hostname", "old\n");
    struct statvfs before { };
    REQUIRE(statvfs(tree.path().c_str(), &before) == 0);
    pid_t child = fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        auto fd = openDir(tree.path());
        replaceFileInRoot(fd.get(), "etc/hostname", std::string(std::size_t(512) << 20, 'x'));
        _exit(0);
    }
    for (;;) {
        struct statvfs now { };
        REQUIRE(statvfs(tree.path().c_str(), &now) == 0);
        if (now.f_bfree + 1024 < before.f_bfree)
            break;
        usleep(1000);
    }
    kill(child, SIGKILL);
    int status = 0;
    REQUIRE(waitpid(child, &status, 0) == child);
    REQUIRE(WIFSIGNALED(status));
    CHECK(contentOf(tree.path() / "etc/hostname") == "old\n");
    CHECK(entriesOf(tree.path() / "etc") == std::vector<std::string>{"hostname"});
}
