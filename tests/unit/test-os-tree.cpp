#include "in-root.h"
#include "os-tree.h"
#include "temp-dir.h"

#include "catch.h"
#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/xattr.h>

using namespace bred;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

UniqueFd openDir(const std::filesystem::path& path) { return UniqueFd(open(path.c_str(), O_RDONLY | O_DIRECTORY)); }

std::string elfHeader(unsigned char elfClass, unsigned char data, std::uint16_t machine)
{
    std::string header(sizeof(Elf64_Ehdr), '\0');
    header.replace(0, 4, ELFMAG);
    header[EI_CLASS] = static_cast<char>(elfClass);
    header[EI_DATA] = static_cast<char>(data);
    auto offset = offsetof(Elf64_Ehdr, e_machine);
    if (data == ELFDATA2LSB) {
        header[offset] = static_cast<char>(machine & 0xff);
        header[offset + 1] = static_cast<char>(machine >> 8);
    } else {
        header[offset] = static_cast<char>(machine >> 8);
        header[offset + 1] = static_cast<char>(machine & 0xff);
    }
    return header;
}

} // namespace

TEST_CASE("os-release is parsed with its shell quoting")
{
    auto parsed = parseOsRelease("# comment\n"
                                 "ID=arch\n"
                                 "NAME=\"Arch Linux ARM\"\n"
                                 "PRETTY_NAME='Single quoted'\n"
                                 "ESCAPED=\"say \\\"hi\\\" \\$HOME\"\n"
                                 "  SPACED=value  \n"
                                 "bad key=x\n"
                                 "NOEQUALS\n"
                                 "EMPTY=\n");
    CHECK(parsed["ID"] == "arch");
    CHECK(parsed["NAME"] == "Arch Linux ARM");
    CHECK(parsed["PRETTY_NAME"] == "Single quoted");
    CHECK(parsed["ESCAPED"] == "say \"hi\" $HOME");
    CHECK(parsed["SPACED"] == "value");
    CHECK(parsed.count("EMPTY") == 1);
    CHECK(parsed.count("bad key") == 0);
    CHECK(parsed.count("NOEQUALS") == 0);
}

TEST_CASE("os-release is found in etc/ first, then usr/lib/")
{
    TempDir dir;
    writeFile(dir.path() / "usr/lib/os-release", "ID=vendor\n");
    {
        auto fd = openDir(dir.path());
        CHECK((*readOsRelease(fd.get()))["ID"] == "vendor");
    }
    writeFile(dir.path() / "etc/os-release", "ID=admin\n");
    auto fd = openDir(dir.path());
    CHECK((*readOsRelease(fd.get()))["ID"] == "admin");
}

TEST_CASE("a directory without os-release is not an OS tree")
{
    TempDir dir;
    std::filesystem::create_directories(dir.path() / "etc");
    auto fd = openDir(dir.path());
    CHECK_FALSE(readOsRelease(fd.get()).has_value());
}

TEST_CASE("symlinks in a tree never lead out of it")
{
    TempDir outside;
    writeFile(outside.path() / "host-os-release", "ID=host\n");
    TempDir tree;
    writeFile(tree.path() / "usr/lib/os-release", "ID=tree\n");
    std::filesystem::create_directories(tree.path() / "etc");
    auto idRead = [&] {
        auto fd = openDir(tree.path());
        return (*readOsRelease(fd.get()))["ID"];
    };

    SECTION("absolute symlink")
    {
        std::filesystem::create_symlink(outside.path() / "host-os-release", tree.path() / "etc/os-release");
        CHECK(idRead() == "tree");
    }
    SECTION("relative symlink climbing above the root")
    {
        std::string climb;
        for (int i = 0; i < 20; ++i)
            climb += "../";
        std::filesystem::create_symlink(climb + outside.path().relative_path().string() + "/host-os-release",
                                        tree.path() / "etc/os-release");
        CHECK(idRead() == "tree");
    }
}

TEST_CASE("a FIFO or an oversized file is never read as os-release")
{
    TempDir tree;
    std::filesystem::create_directories(tree.path() / "etc");
    std::filesystem::create_directories(tree.path() / "usr/lib");
    REQUIRE(mkfifo((tree.path() / "etc/os-release").c_str(), 0644) == 0);
    writeFile(tree.path() / "usr/lib/os-release", std::string(128 * 1024, 'x'));
    auto fd = openDir(tree.path());
    CHECK_FALSE(readOsRelease(fd.get()).has_value());
}

TEST_CASE("architectures are named as systemd names them")
{
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS64, ELFDATA2LSB, EM_X86_64)) == "x86-64");
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS64, ELFDATA2LSB, EM_AARCH64)) == "arm64");
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS32, ELFDATA2LSB, EM_ARM)) == "arm");
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS64, ELFDATA2LSB, EM_RISCV)) == "riscv64");
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS32, ELFDATA2LSB, EM_386)) == "x86");
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS64, ELFDATA2MSB, EM_S390)) == "s390x");
    CHECK(architectureFromElfHeader(elfHeader(ELFCLASS64, ELFDATA2LSB, EM_PPC64)) == "ppc64-le");
    CHECK(architectureFromElfHeader("#!/bin/sh\n").empty());
    CHECK(architectureFromElfHeader("").empty());
}

TEST_CASE("a tree's architecture comes from its own binaries, through its own symlinks")
{
    TempDir tree;
    writeFile(tree.path() / "usr/bin/dash", elfHeader(ELFCLASS64, ELFDATA2LSB, EM_AARCH64));
    std::filesystem::create_symlink("dash", tree.path() / "usr/bin/sh");
    // A symlink to the host's binary must not count: resolved inside the
    // tree, /bin/true names nothing. (It is looked at first; followed on the
    // host, it would say the host's architecture.)
    std::filesystem::create_directories(tree.path() / "usr/lib/systemd");
    std::filesystem::create_symlink("/bin/true", tree.path() / "usr/lib/systemd/systemd");
    auto host = openDir("/");
    REQUIRE_FALSE(architectureFromElfHeader(readFileHeadInRoot(host.get(), "bin/true", 64).value()).empty());
    auto fd = openDir(tree.path());
    CHECK(detectTreeArchitecture(fd.get()) == "arm64");
}

TEST_CASE("readFileHeadInRoot reads only the start of a file")
{
    TempDir tree;
    writeFile(tree.path() / "file", "0123456789");
    auto fd = openDir(tree.path());
    CHECK(*readFileHeadInRoot(fd.get(), "file", 4) == "0123");
    CHECK(*readFileHeadInRoot(fd.get(), "/file", 100) == "0123456789");
    CHECK_FALSE(readFileHeadInRoot(fd.get(), "missing", 4).has_value());
}

TEST_CASE("a template's verification record", "[root]")
{
    TempDir dir;
    std::filesystem::create_directory(dir.path() / "tree");
    auto treeFd = openDir(dir.path() / "tree");
    CHECK_FALSE(readTreeVerification(treeFd.get()));
    // Trusted attributes need root, as the tests run in CI.
    const TreeVerification signature{"signature", "6ED0E7B82643E131ACE3B8B6F9D4FE5F8E0A9B11"};
    recordTreeVerification(treeFd.get(), signature);
    CHECK(readTreeVerification(treeFd.get()) == signature);
    recordTreeVerification(treeFd.get(), {"checksum", ""});
    CHECK(readTreeVerification(treeFd.get()) == TreeVerification{"checksum", ""});
    forgetTreeVerification(treeFd.get());
    CHECK_FALSE(readTreeVerification(treeFd.get()));
    forgetTreeVerification(treeFd.get()); // nothing to forget is fine

    // Values we never write are no record at all.
    for (const std::string& value :
         std::vector<std::string>{"signature", "checksum ABCD", "none 00", "signed ABCD", "signature XYZ", "",
                                  "signature ABCD\n", std::string("none\0", 5)}) {
        CAPTURE(value);
        setxattr((dir.path() / "tree").c_str(), "trusted.bredos.verification", value.data(), value.size(), 0);
        CHECK_FALSE(readTreeVerification(treeFd.get()));
    }
}
