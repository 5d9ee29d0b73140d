#include "errors.h"
#include "temp-dir.h"
#include "temporary-tree.h"
#include "unique-fd.h"

#include "catch.h"
#include <algorithm>
#include <cerrno>
#include <fcntl.h>
#include <stdexcept>
#include <sys/stat.h>

using namespace bred;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

UniqueFd openDir(const std::filesystem::path& path) { return UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY)); }

// The names in `directory`, sorted.
std::vector<std::string> namesIn(const std::filesystem::path& directory)
{
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(directory))
        names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
}

} // namespace

TEST_CASE("a temporary tree has a hidden name and goes when the work fails")
{
    TempDir dir;
    UniqueFd parent = openDir(dir.path());
    std::string name;
    try {
        TemporaryTree work(parent.get(), "create-web");
        name = work.name();
        CHECK_THAT(name, StartsWith(".#bred-create-web-"));
        struct stat st { };
        REQUIRE(lstat((dir.path() / name).c_str(), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == 0700);
        writeFile(dir.path() / name / "usr/lib/os-release", "ID=test\n");
        throw std::runtime_error("the download failed");
    } catch (const std::runtime_error&) {
    }
    CHECK_FALSE(name.empty());
    CHECK(namesIn(dir.path()).empty());
}

TEST_CASE("a temporary tree whose making fails leaves nothing")
{
    TempDir dir;
    UniqueFd parent = openDir(dir.path());
    auto makeHalf = [&](int parentFd, const std::string& name) {
        makePrivateDirectory(parentFd, name);
        writeFile(dir.path() / name / "half", "x");
        throw Error(ErrorCode::Failed, "disk full");
    };
    CHECK_THROWS_AS(TemporaryTree(parent.get(), "clone-web", makeHalf), Error);
    CHECK(namesIn(dir.path()).empty());
}

TEST_CASE("a temporary tree renamed into place stays, and never replaces a tree")
{
    TempDir dir;
    UniqueFd parent = openDir(dir.path());
    {
        TemporaryTree work(parent.get(), "clone-web");
        writeFile(dir.path() / work.name() / "etc/hostname", "web\n");
        CHECK(work.renameInto("web"));
    }
    CHECK(namesIn(dir.path()) == std::vector<std::string>{"web"});
    CHECK(std::filesystem::exists(dir.path() / "web/etc/hostname"));
    {
        TemporaryTree work(parent.get(), "clone-web");
        writeFile(dir.path() / work.name() / "other", "x");
        CHECK_FALSE(work.renameInto("web"));
        CHECK(errno == EEXIST);
    }
    CHECK(namesIn(dir.path()) == std::vector<std::string>{"web"});
    CHECK(std::filesystem::exists(dir.path() / "web/etc/hostname"));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "web/other"));
}

TEST_CASE("a temporary tree exchanged with an entry takes its place and removes the old one")
{
    TempDir dir;
    UniqueFd parent = openDir(dir.path());
    writeFile(dir.path() / "web/old", "old");
    writeFile(dir.path() / "file", "a file");
    {
        TemporaryTree work(parent.get(), "copy");
        writeFile(dir.path() / work.name() / "new", "new");
        CHECK(work.exchangeWith("web"));
        TemporaryTree other(parent.get(), "copy");
        writeFile(dir.path() / other.name() / "dir", "");
        CHECK(other.exchangeWith("file"));
        TemporaryTree none(parent.get(), "copy");
        CHECK_FALSE(none.exchangeWith("missing"));
        CHECK(errno == ENOENT);
    }
    CHECK(namesIn(dir.path()) == std::vector<std::string>{"file", "web"});
    CHECK(std::filesystem::exists(dir.path() / "web/new"));
    CHECK_FALSE(std::filesystem::exists(dir.path() / "web/old"));
    CHECK(std::filesystem::is_directory(dir.path() / "file"));
}

TEST_CASE("a tree moved aside is hidden, then removed")
{
    TempDir dir;
    UniqueFd parent = openDir(dir.path());
    writeFile(dir.path() / "web/etc/hostname", "web\n");
    writeFile(dir.path() / "web/etc/motd", "hi\n");
    SECTION("by remove(), which reports each entry")
    {
        auto aside = TemporaryTree::moveAside(parent.get(), "web", "remove-web");
        REQUIRE(aside);
        CHECK_THAT(aside->name(), StartsWith(".#bred-remove-web-"));
        CHECK(namesIn(dir.path()) == std::vector<std::string>{aside->name()});
        int removed = 0;
        aside->remove([&] { ++removed; });
        CHECK(removed == 3);
        CHECK(namesIn(dir.path()).empty());
    }
    SECTION("when it goes out of scope")
    {
        {
            auto aside = TemporaryTree::moveAside(parent.get(), "web", "remove-web");
            REQUIRE(aside);
        }
        CHECK(namesIn(dir.path()).empty());
    }
    SECTION("unless it is not there")
    {
        CHECK_FALSE(TemporaryTree::moveAside(parent.get(), "gone", "remove-gone"));
        CHECK(errno == ENOENT);
        CHECK(namesIn(dir.path()) == std::vector<std::string>{"web"});
    }
}

TEST_CASE("the sweep removes only hidden leftovers with the prefix")
{
    TempDir dir;
    auto machines = dir.path() / "machines";
    writeFile(machines / ".#bred-clone-web-0badf00d/etc/hostname", "web\n");
    writeFile(machines / ".#bred-0badf00d", "half a file");
    writeFile(machines / ".#importd-transfer/etc/hostname", "importd's\n");
    writeFile(machines / "web/etc/hostname", "web\n");
    writeFile(machines / "web.#bred-0badf00d", "not hidden\n");
    UniqueFd parent = openDir(machines);
    auto done = TemporaryTree::sweep(parent.get(), "/var/lib/machines");
    std::sort(done.begin(), done.end());
    CHECK(done == std::vector<std::string>{"removed /var/lib/machines/.#bred-0badf00d",
                                           "removed /var/lib/machines/.#bred-clone-web-0badf00d"});
    CHECK(namesIn(machines) == std::vector<std::string>{".#importd-transfer", "web", "web.#bred-0badf00d"});
    CHECK(std::filesystem::exists(machines / ".#importd-transfer/etc/hostname"));
    CHECK(std::filesystem::exists(machines / "web/etc/hostname"));
    CHECK(TemporaryTree::sweep(parent.get(), machines).empty());
}

TEST_CASE("temporary trees and the sweep never follow symlinks")
{
    TempDir dir;
    auto machines = dir.path() / "machines", host = dir.path() / "host";
    writeFile(host / "precious", "keep me\n");
    std::filesystem::create_directories(machines);
    UniqueFd parent = openDir(machines);
    SECTION("a link left with the prefix goes, not what it points to")
    {
        std::filesystem::create_directory_symlink(host, machines / ".#bred-clone-web-0badf00d");
        auto done = TemporaryTree::sweep(parent.get(), machines);
        CHECK(done.size() == 1);
        CHECK(namesIn(machines).empty());
        CHECK(namesIn(host) == std::vector<std::string>{"precious"});
    }
    SECTION("links inside a tree go, not what they point to")
    {
        {
            TemporaryTree work(parent.get(), "create-web");
            std::filesystem::create_directory_symlink(host, machines / work.name() / "host-dir");
            std::filesystem::create_symlink(host / "precious", machines / work.name() / "host-file");
        }
        std::filesystem::create_directories(machines / ".#bred-create-old-0badf00d");
        std::filesystem::create_directory_symlink(host, machines / ".#bred-create-old-0badf00d/etc");
        CHECK(TemporaryTree::sweep(parent.get(), machines).size() == 1);
        CHECK(namesIn(machines).empty());
        CHECK(namesIn(host) == std::vector<std::string>{"precious"});
    }
    SECTION("a tree replaced by a link is not followed when it goes")
    {
        {
            TemporaryTree work(parent.get(), "create-web");
            std::filesystem::remove(machines / work.name());
            std::filesystem::create_directory_symlink(host, machines / work.name());
        }
        CHECK(namesIn(host) == std::vector<std::string>{"precious"});
        // The link stays for the sweep, which unlinks it.
        CHECK(TemporaryTree::sweep(parent.get(), machines).size() == 1);
        CHECK(namesIn(machines).empty());
        CHECK(namesIn(host) == std::vector<std::string>{"precious"});
    }
}

TEST_CASE("a temporary tree's name gives back its purpose, and no other name does")
{
    TempDir dir;
    UniqueFd parent = openDir(dir.path());
    TemporaryTree tree(parent.get(), "remove-web-1");
    CHECK(TemporaryTree::purposeOf(tree.name()) == "remove-web-1");
    for (const char* name :
         {"web", ".#bred-", ".#bred-x", ".#bred--12345678", ".#bred-remove-web", ".#bredremove-web-12345678"})
        CHECK_FALSE(TemporaryTree::purposeOf(name));
}
