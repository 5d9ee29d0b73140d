#include "archive-extractor.h"
#include "catalog.h"
#include "checksum.h"
#include "disk-image.h"
#include "download-request.h"
#include "gpg-verify.h"
#include "error-code.h"
#include "errors.h"
#include "temp-dir.h"
#include "unique-fd.h"
#include "unpack-report.h"

#include <archive.h>
#include <archive_entry.h>
#include "catch.h"
#include <algorithm>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <thread>
#include <unistd.h>

using namespace bred;
using bred::test::TempDir;
using bred::test::writeFile;

namespace {

struct TarEntry {
    std::string path;
    mode_t type;
    std::string content;  // file data
    std::string link;     // symlink target
    std::string hardlink; // hard link target
    dev_t device = 0;     // a device node's numbers
};

TarEntry tarFile(std::string path, std::string content)
{
    return {std::move(path), AE_IFREG, std::move(content), {}, {}};
}
TarEntry tarDirectory(std::string path) { return {std::move(path), AE_IFDIR, {}, {}, {}}; }
TarEntry tarSymlink(std::string path, std::string target)
{
    return {std::move(path), AE_IFLNK, {}, std::move(target), {}};
}
TarEntry tarHardlink(std::string path, std::string target)
{
    return {std::move(path), AE_IFREG, {}, {}, std::move(target)};
}
TarEntry tarCharDevice(std::string path) { return {std::move(path), AE_IFCHR, {}, {}, {}, makedev(1, 3)}; }

// Writes a .tar.gz holding `entries` and returns its path.
std::filesystem::path makeTarGz(const TempDir& dir, const std::vector<TarEntry>& entries)
{
    auto path = dir.path() / "archive.tar.gz";
    std::unique_ptr<archive, decltype(&archive_write_free)> writer(archive_write_new(), archive_write_free);
    archive_write_set_format_pax_restricted(writer.get());
    archive_write_add_filter_gzip(writer.get());
    REQUIRE(archive_write_open_filename(writer.get(), path.c_str()) == ARCHIVE_OK);
    for (const auto& spec : entries) {
        archive_entry* entry = archive_entry_new();
        archive_entry_set_pathname(entry, spec.path.c_str());
        archive_entry_set_filetype(entry, spec.type);
        archive_entry_set_perm(entry, spec.type == AE_IFDIR ? 0755 : 0644);
        if (!spec.link.empty())
            archive_entry_set_symlink(entry, spec.link.c_str());
        if (!spec.hardlink.empty())
            archive_entry_set_hardlink(entry, spec.hardlink.c_str());
        if (spec.device)
            archive_entry_set_rdev(entry, spec.device);
        archive_entry_set_size(entry, static_cast<la_int64_t>(spec.content.size()));
        archive_write_header(writer.get(), entry);
        if (!spec.content.empty())
            archive_write_data(writer.get(), spec.content.data(), spec.content.size());
        archive_entry_free(entry);
    }
    archive_write_close(writer.get());
    return path;
}

ErrorCode extractionError(const std::filesystem::path& archivePath, const std::filesystem::path& target,
                          ExtractOptions options = {})
{
    UniqueFd fd(open(archivePath.c_str(), O_RDONLY));
    try {
        // A thread of its own, as in the daemon: extraction changes its working directory.
        ErrorCode code = ErrorCode::Failed;
        bool failed = false;
        std::thread([&] {
            try {
                extractArchive(fd.get(), target, options);
            } catch (const Error& error) {
                code = error.code();
                failed = true;
            }
        }).join();
        if (!failed)
            FAIL("extraction succeeded");
        return code;
    } catch (const Error& error) {
        return error.code();
    }
}

} // namespace

TEST_CASE("checksum files are read in each distribution's format")
{
    std::string hex256(64, 'a'), hex512(128, 'b'), hexMd5(32, 'c');
    auto sha256 = findChecksum(ChecksumFormat::Sha256Sums,
                               "ffff  other.tar.gz\n" + hex256 + " *ubuntu-base-24.04.3-base-amd64.tar.gz\n",
                               "ubuntu-base-24.04.3-base-amd64.tar.gz");
    REQUIRE(sha256);
    CHECK(sha256->hex == hex256);
    CHECK(sha256->algorithm == HashAlgorithm::Sha256);
    auto sha512 = findChecksum(ChecksumFormat::Sha512Sums, hex512 + "  debian-12-genericcloud-amd64.tar.xz\n",
                               "debian-12-genericcloud-amd64.tar.xz");
    REQUIRE(sha512);
    CHECK(sha512->algorithm == HashAlgorithm::Sha512);
    auto fedora = findChecksum(ChecksumFormat::FedoraChecksum,
                               "-----BEGIN PGP SIGNED MESSAGE-----\nHash: SHA256\n\n"
                               "# Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz: 1234 bytes\n"
                               "SHA256 (Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz) = " +
                                   std::string(64, 'D') + "\n",
                               "Fedora-Container-Base-Generic-42-1.1.x86_64.oci.tar.xz");
    REQUIRE(fedora);
    CHECK(fedora->hex == std::string(64, 'd'));
    CHECK(findChecksum(ChecksumFormat::Md5Sums, hexMd5 + "  ArchLinuxARM-aarch64-latest.tar.gz\n",
                       "ArchLinuxARM-aarch64-latest.tar.gz"));
    CHECK_FALSE(findChecksum(ChecksumFormat::Sha256Sums, hex256 + "  a.tar\n", "b.tar"));
    CHECK_FALSE(findChecksum(ChecksumFormat::Sha256Sums, "abc  a.tar\n", "a.tar"));
}

TEST_CASE("hashes are computed as the standard tools compute them")
{
    Hasher sha256(HashAlgorithm::Sha256);
    sha256.update("abc", 3);
    CHECK(sha256.finish() == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    Hasher md5(HashAlgorithm::Md5);
    md5.update("abc", 3);
    CHECK(md5.finish() == "900150983cd24fb0d6963f7d28e17f72");
}

TEST_CASE("the catalog expands URL patterns and merges overrides")
{
    auto catalog = Catalog::parse({
        {"vendor.toml", "[debian]\nname = \"Debian\"\nmirror = \"https://cloud.example\"\ncodename = \"bookworm\"\n"
                        "url = \"{mirror}/{codename}/debian-{arch}.tar.xz\"\n"
                        "checksum_url = \"{mirror}/{codename}/SHA512SUMS\"\nchecksum_format = \"sha512sums\"\n"
                        "layout = \"disk-image\"\narchitectures = { x86-64 = \"amd64\", arm64 = \"arm64\" }\n"},
        {"local.toml", "[debian]\nmirror = \"http://127.0.0.1:8080/debian\"\n"},
    });
    const auto& debian = catalog.find("debian");
    CHECK(debian.layout == ArchiveLayout::DiskImage);
    auto source = Catalog::resolve(debian, "x86-64");
    CHECK(source.archiveUrl == "http://127.0.0.1:8080/debian/bookworm/debian-amd64.tar.xz");
    CHECK(source.checksumUrl == "http://127.0.0.1:8080/debian/bookworm/SHA512SUMS");
    CHECK(source.fileName == "debian-amd64.tar.xz");
    try {
        Catalog::resolve(debian, "riscv64");
        FAIL("an unpublished architecture resolved");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::UnsupportedArchitecture);
    }
    try {
        catalog.find("gentoo");
        FAIL("an unknown distribution was found");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::NoSuchDistribution);
    }
    CHECK_THROWS_AS(Catalog::parse({{"bad.toml", "[x]\nname = \"no url\"\n"}}), Error);
}

TEST_CASE("a keyring is one path or a list; the first installed one is used")
{
    TempDir dir;
    writeFile(dir.path() / "pacman/archlinux.gpg", "keys");
    const std::string missing = (dir.path() / "keyrings/archlinux.gpg").string();
    const std::string present = (dir.path() / "pacman/archlinux.gpg").string();
    auto catalog = Catalog::parse(
        {{"vendor.toml",
          "[arch]\nurl = \"http://a/x.tar\"\narchitectures = { x86-64 = \"x\" }\nkeyring = [\"" + missing + "\", \"" +
              present +
              "\"]\n[one]\nname = \"One\"\nurl = \"http://a/y.tar\"\narchitectures = { x86-64 = \"x\" }\n"
              "keyring = \"" +
              missing +
              "\"\n[none]\nname = \"None\"\nurl = \"http://a/z.tar\"\narchitectures = { x86-64 = \"x\" }\n"}});
    CHECK(installedKeyring(catalog.find("arch")) == present);
    CHECK_FALSE(installedKeyring(catalog.find("one")).has_value());
    CHECK(missingKeyringReason(catalog.find("one")) == "keyring " + missing + " is not installed");
    CHECK(missingKeyringReason(catalog.find("none")) == "the catalog names no keyring for None");
    std::filesystem::remove(present);
    CHECK(missingKeyringReason(catalog.find("arch")) ==
          "none of the keyrings " + missing + ", " + present + " is installed");
    CHECK_THROWS_AS(
        Catalog::parse(
            {{"bad.toml", "[x]\nurl = \"http://a/x.tar\"\narchitectures = { x86-64 = \"x\" }\nkeyring = [1]\n"}}),
        Error);
    CHECK_THROWS_AS(
        Catalog::parse(
            {{"bad.toml", "[x]\nurl = \"http://a/x.tar\"\narchitectures = { x86-64 = \"x\" }\nkeyring = 1\n"}}),
        Error);
}

TEST_CASE("the shipped catalog names the five distributions of the guide")
{
    auto catalog = Catalog::load(BRED_SOURCE_DIR "/daemon/data/distributions.toml", "/nonexistent");
    for (const char* id : {"ubuntu-base", "debian", "fedora", "archlinux", "archlinuxarm"})
        CHECK_NOTHROW(catalog.find(id));
    CHECK(Catalog::resolve(catalog.find("archlinuxarm"), "arm64").archiveUrl ==
          "http://os.archlinuxarm.org/os/ArchLinuxARM-aarch64-latest.tar.gz");
    auto noble = catalog.choose("ubuntu-base", "24.04");
    auto index = Catalog::latestIndex(noble, "x86-64");
    REQUIRE(index.has_value());
    CHECK(index->url == "https://cdimage.ubuntu.com/ubuntu-base/releases/24.04/release/SHA256SUMS");
    noble.variables["version"] =
        *latestVersionInIndex("0123 *ubuntu-base-24.04.3-base-amd64.tar.gz\n", index->before, index->after);
    CHECK(Catalog::resolve(noble, "x86-64").archiveUrl ==
          "https://cdimage.ubuntu.com/ubuntu-base/releases/24.04/release/ubuntu-base-24.04.3-base-amd64.tar.gz");
    CHECK(catalog.choose("ubuntu-base", "").variables.at("release") == "26.04");
    // The listing's URL is the default release's, with what is looked up later left a placeholder.
    for (const auto& entry : catalog.listing())
        if (entry.id == "fedora")
            CHECK(entry.url.find("/releases/44/Container/") != std::string::npos);
        else if (entry.id == "ubuntu-base")
            CHECK(entry.url.find("/26.04/release/ubuntu-base-{version}-base-") != std::string::npos);
    CHECK(Catalog::resolve(catalog.choose("debian", ""), "x86-64").archiveUrl ==
          "https://cloud.debian.org/images/cloud/trixie/latest/debian-13-genericcloud-amd64.tar.xz");
    CHECK(Catalog::resolve(catalog.choose("debian", "12"), "arm64").archiveUrl ==
          "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-arm64.tar.xz");
    auto eol = catalog.choose("fedora", "42");
    CHECK(Catalog::latestIndex(eol, "arm64")->url ==
          "https://archives.fedoraproject.org/pub/archive/fedora/linux/releases/42/Container/aarch64/images/");
    CHECK(missingKeyringReason(eol) ==
          "keyring /usr/share/distribution-gpg-keys/fedora/RPM-GPG-KEY-fedora-42-primary is not installed");
    for (const auto& distribution : catalog.distributions()) {
        auto listing = catalog.releaseListing(distribution.id);
        CHECK(std::count_if(listing.begin(), listing.end(), [](const ReleaseListing& r) { return r.isDefault; }) == 1);
    }
}

TEST_CASE("a distribution's releases override its values; the default is used without one")
{
    const std::string vendor = "[deb]\nname = \"Deb\"\nmirror = \"https://m\"\ndefault_release = \"13\"\n"
                               "url = \"{mirror}/{codename}/deb-{number}-{arch}.tar.xz\"\n"
                               "architectures = { x86-64 = \"amd64\", arm64 = \"arm64\" }\n"
                               "[deb.releases.\"12\"]\nname = \"Deb 12\"\ncodename = \"old\"\nnumber = \"12\"\n"
                               "architectures = { x86-64 = \"amd64\" }\n"
                               "[deb.releases.\"13\"]\nname = \"Deb 13\"\ncodename = \"new\"\nnumber = \"13\"\n";
    auto catalog = Catalog::parse({{"vendor.toml", vendor},
                                   {"local.toml", "[deb.releases.\"12\"]\nmirror = \"https://archive\"\n"
                                                  "[deb.releases.\"14\"]\ncodename = \"next\"\nnumber = \"14\"\n"}});
    CHECK(Catalog::resolve(catalog.choose("deb", ""), "arm64").archiveUrl == "https://m/new/deb-13-arm64.tar.xz");
    auto old = catalog.choose("deb", "12");
    CHECK(old.name == "Deb 12");
    CHECK(Catalog::resolve(old, "x86-64").archiveUrl == "https://archive/old/deb-12-amd64.tar.xz");
    CHECK_THROWS_AS(Catalog::nativeArchitecture(old, "arm64"), Error);
    CHECK(catalog.choose("deb", "14").name == "Deb");

    auto listing = catalog.releaseListing("deb");
    REQUIRE(listing.size() == 3);
    CHECK(listing[0].release == "12");
    CHECK(listing[0].architectures == "x86-64");
    CHECK_FALSE(listing[0].isDefault);
    CHECK(listing[1].architectures == "arm64,x86-64");
    CHECK(listing[1].isDefault);
    try {
        catalog.choose("deb", "11");
        FAIL("an unknown release was chosen");
    } catch (const Error& error) {
        CHECK(error.code() == ErrorCode::NoSuchDistribution);
        CHECK(std::string(error.what()) == "Deb has no release '11'; choose one of: 12, 13, 14 (option 'release'; "
                                           "'bredmachine distros' lists them).");
    }

    auto single = Catalog::parse({{"v.toml", "[x]\nurl = \"http://a/{release}.tar\"\nrelease = \"7\"\n"
                                             "architectures = { x86-64 = \"x\" }\n[y]\nurl = \"http://a/y.tar\"\n"
                                             "architectures = { x86-64 = \"x\" }\n"}});
    CHECK(single.releaseListing("x").front().release == "7");
    CHECK(single.releaseListing("y").front().release == "latest");
    CHECK(single.releaseListing("y").front().isDefault);

    CHECK_THROWS_AS(Catalog::parse({{"v.toml", vendor + "[deb.releases.\"15\"]\n"},
                                    {"l.toml", "[deb]\n"
                                               "default_release = "
                                               "\"9\"\n"}}),
                    Error);
    CHECK_THROWS_AS(Catalog::parse({{"v.toml", "[x]\nurl = \"http://a/x\"\narchitectures = { x86-64 = \"x\" }\n"
                                               "[x.releases.a]\n[x.releases.b]\n"}}),
                    Error);
}

TEST_CASE("the latest version is the highest one an index names in full")
{
    const std::string sums = "aa *ubuntu-base-24.04.3-base-amd64.tar.gz\n"
                             "bb *ubuntu-base-24.04.10-base-amd64.tar.gz.zsync\n"
                             "cc *ubuntu-base-24.04.4-base-amd64.tar.gz\n"
                             "dd *ubuntu-base-24.04.9-base-arm64.tar.gz\n"
                             "ee *xubuntu-base-24.04.8-base-amd64.tar.gz\n"
                             "ff *ubuntu-base-24.04..7-base-amd64.tar.gz\n"
                             "00 *ubuntu-base-24.04.6.-base-amd64.tar.gz\n";
    CHECK(latestVersionInIndex(sums, "ubuntu-base-", "-base-amd64.tar.gz") == "24.04.4");
    CHECK(latestVersionInIndex("ubuntu-base-26.04-base-amd64.tar.gz", "ubuntu-base-", "-base-amd64.tar.gz") == "26.04");
    const std::string listing = "<a href=\"Fedora-Container-43-1.6-x86_64-CHECKSUM\">Fedora-Container-43-1.6-x86_64-"
                                "CHECKSUM</a>\n<a href=\"Fedora-Container-43-1.10-x86_64-CHECKSUM\">x</a>\n"
                                "<a href=\"Fedora-Container-43-1.9-aarch64-CHECKSUM\">x</a>\n";
    CHECK(latestVersionInIndex(listing, "Fedora-Container-43-", "-x86_64-CHECKSUM") == "1.10");
    CHECK_FALSE(latestVersionInIndex(listing, "Fedora-Container-44-", "-x86_64-CHECKSUM").has_value());
    CHECK_FALSE(
        latestVersionInIndex("ubuntu-base--base-amd64.tar.gz", "ubuntu-base-", "-base-amd64.tar.gz").has_value());
    CHECK_FALSE(latestVersionInIndex("ubuntu-base-1234567890.1-base-amd64.tar.gz", "ubuntu-base-", "-base-amd64.tar.gz")
                    .has_value());
    CHECK_FALSE(latestVersionInIndex("x-1-y", "", "-y").has_value());
}

TEST_CASE("extraction refuses entries that leave the tree")
{
    TempDir dir;
    auto target = dir.path() / "tree";
    std::filesystem::create_directory(target);
    SECTION("absolute path")
    {
        CHECK(extractionError(makeTarGz(dir, {tarFile("/tmp/bred-unit-pwned", "x")}), target) == ErrorCode::BadArchive);
    }
    SECTION("dot-dot")
    {
        CHECK(extractionError(makeTarGz(dir, {tarFile("a/../../bred-unit-pwned", "x")}), target) ==
              ErrorCode::BadArchive);
    }
    SECTION("hard link out of the tree")
    {
        CHECK(extractionError(makeTarGz(dir, {tarHardlink("stolen", "/etc/hostname")}), target) ==
              ErrorCode::BadArchive);
    }
    SECTION("write through a symlink")
    {
        auto outside = dir.path() / "outside";
        std::filesystem::create_directory(outside);
        CHECK(extractionError(makeTarGz(dir, {tarSymlink("evil", outside.string()), tarFile("evil/pwned", "x")}),
                              target) == ErrorCode::BadArchive);
        CHECK(std::filesystem::is_empty(outside));
    }
    SECTION("write through a symlink made deeper, or through a hard link to a symlink")
    {
        auto outside = dir.path() / "outside";
        std::filesystem::create_directory(outside);
        // Each archive into a tree of its own: the extraction leaves the thread inside it.
        int trees = 0;
        auto freshTree = [&] {
            auto tree = dir.path() / ("tree" + std::to_string(++trees));
            std::filesystem::create_directory(tree);
            return tree;
        };
        CHECK(extractionError(
                  makeTarGz(dir, {tarDirectory("a"), tarSymlink("a/b", outside.string()), tarFile("a/b/c/pwned", "x")}),
                  freshTree()) == ErrorCode::BadArchive);
        CHECK(extractionError(makeTarGz(dir, {tarSymlink("link", outside.string()), tarHardlink("alias", "link"),
                                              tarFile("alias/pwned", "x")}),
                              freshTree()) == ErrorCode::BadArchive);
        // A directory entry over a symlink would set the modes of what it points to.
        CHECK(extractionError(makeTarGz(dir, {tarSymlink("etc", outside.string()), tarDirectory("etc")}),
                              freshTree()) == ErrorCode::BadArchive);
        CHECK(extractionError(makeTarGz(dir, {tarSymlink("up", outside.string()), tarHardlink("stolen", "up/x")}),
                              freshTree()) == ErrorCode::BadArchive);
        CHECK(std::filesystem::is_empty(outside));
    }
    SECTION("a file may replace a symlink, without following it")
    {
        auto outside = dir.path() / "outside";
        std::filesystem::create_directory(outside);
        writeFile(outside / "kept", "host");
        auto archive = makeTarGz(dir, {tarSymlink("f", (outside / "kept").string()), tarFile("f", "mine")});
        UniqueFd fd(open(archive.c_str(), O_RDONLY | O_CLOEXEC));
        extractArchive(fd.get(), target, ExtractOptions{});
        CHECK(std::filesystem::is_regular_file(std::filesystem::symlink_status(target / "f")));
        std::ifstream kept(outside / "kept");
        std::string text;
        kept >> text;
        CHECK(text == "host");
    }
    CHECK_FALSE(std::filesystem::exists(dir.path() / "bred-unit-pwned"));
    CHECK_FALSE(std::filesystem::exists("/tmp/bred-unit-pwned"));
}

TEST_CASE("extraction stops at the size cap and on garbage")
{
    TempDir dir;
    auto target = dir.path() / "tree";
    std::filesystem::create_directory(target);
    ExtractOptions small;
    small.maxTreeBytes = 1000;
    CHECK(extractionError(makeTarGz(dir, {tarFile("big", std::string(5000, 'z'))}), target, small) ==
          ErrorCode::BadArchive);
    writeFile(dir.path() / "garbage.tar.gz", std::string("\x1f\x8b\x08\x00garbage-garbage-garbage", 27));
    CHECK(extractionError(dir.path() / "garbage.tar.gz", target) == ErrorCode::BadArchive);
}

TEST_CASE("extraction keeps hard links, symlinks and contents")
{
    TempDir dir;
    auto target = dir.path() / "tree";
    std::filesystem::create_directory(target);
    auto archivePath =
        makeTarGz(dir, {tarDirectory("./etc"), tarFile("./etc/os-release", "ID=test\n"),
                        tarSymlink("./etc/link", "os-release"), tarHardlink("./etc/hard", "./etc/os-release")});
    UniqueFd fd(open(archivePath.c_str(), O_RDONLY));
    std::thread([&] { extractArchive(fd.get(), target, {}); }).join();
    struct stat a {
    }, b{};
    REQUIRE(stat((target / "etc/os-release").c_str(), &a) == 0);
    REQUIRE(stat((target / "etc/hard").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK(std::filesystem::read_symlink(target / "etc/link") == "os-release");
}

TEST_CASE("the GPT of a disk image gives its root partition")
{
    TempDir dir;
    auto image = dir.path() / "disk.raw";
    // Protective MBR sector, GPT header at LBA 1, entries at LBA 2.
    std::string disk(512 * 40, '\0');
    std::string header = "EFI PART";
    header.resize(92, '\0');
    auto put64 = [](std::string& s, std::size_t at, std::uint64_t v) {
        for (int i = 0; i < 8; ++i)
            s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
    };
    auto put32 = [](std::string& s, std::size_t at, std::uint32_t v) {
        for (int i = 0; i < 4; ++i)
            s[at + i] = static_cast<char>((v >> (8 * i)) & 0xff);
    };
    put64(header, 72, 2);
    put32(header, 80, 2);
    put32(header, 84, 128);
    disk.replace(512, header.size(), header);
    // Entry 1: generic Linux 0FC63DAF-8483-4772-8E79-3D69D8477DE4 at LBA 34..37.
    const unsigned char linuxGuid[16] = {0xAF, 0x3D, 0xC6, 0x0F, 0x83, 0x84, 0x72, 0x47,
                                         0x8E, 0x79, 0x3D, 0x69, 0xD8, 0x47, 0x7D, 0xE4};
    std::string entry(128, '\0');
    entry.replace(0, 16, reinterpret_cast<const char*>(linuxGuid), 16);
    put64(entry, 32, 34);
    put64(entry, 40, 37);
    disk.replace(1024, 128, entry);
    writeFile(image, disk);
    UniqueFd fd(open(image.c_str(), O_RDONLY));
    auto partitions = readGpt(fd.get());
    REQUIRE(partitions.size() == 1);
    CHECK(partitions[0].typeGuid == "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
    CHECK(partitions[0].offset == 34 * 512);
    CHECK(partitions[0].size == 4 * 512);
    CHECK(findRootPartition(partitions, "x86-64").number == 1);
    CHECK_THROWS_AS(findRootPartition({}, "x86-64"), Error);
    CHECK_NOTHROW(checkPartitionInImage(fd.get(), partitions[0]));
    // A partition past the end of the image, or not of whole sectors, does not fit it.
    CHECK(partitionFits(partitions[0], 38 * 512));
    CHECK_FALSE(partitionFits(partitions[0], 37 * 512));
    CHECK_FALSE(partitionFits({1, partitions[0].typeGuid, 34 * 512 + 1, 512}, 38 * 512));
    CHECK_FALSE(partitionFits({1, partitions[0].typeGuid, 34 * 512, 0}, 38 * 512));
    CHECK_FALSE(partitionFits({1, partitions[0].typeGuid, UINT64_MAX - 511, 1024}, UINT64_MAX));
    auto beyond = partitions[0];
    beyond.size = 8 * 512; // to sector 42 of 40
    CHECK(test::errorCodeOf([&] { checkPartitionInImage(fd.get(), beyond); }) == ErrorCode::BadArchive);
}

TEST_CASE("a disk image's mounted tree is copied with hard links, symlinks and contents, within the size cap")
{
    TempDir dir;
    auto source = dir.path() / "disk-root";
    writeFile(source / "etc/os-release", "ID=test\n");
    std::filesystem::create_hard_link(source / "etc/os-release", source / "etc/hard");
    std::filesystem::create_symlink("/etc/passwd", source / "etc/link");
    writeFile(source / "usr/lib/data", std::string(3000, 'd'));
    auto target = dir.path() / "tree";
    std::filesystem::create_directory(target);
    std::uint64_t written = 0;
    // The copy gives its thread a working directory of its own, as extraction does.
    std::thread([&] { written = copyMountedTree(source, target, {}); }).join();
    CHECK(written == 3008);
    CHECK(std::filesystem::file_size(target / "usr/lib/data") == 3000);
    struct stat a {
    }, b{};
    REQUIRE(stat((target / "etc/os-release").c_str(), &a) == 0);
    REQUIRE(stat((target / "etc/hard").c_str(), &b) == 0);
    CHECK(a.st_ino == b.st_ino);
    CHECK(std::filesystem::read_symlink(target / "etc/link") == "/etc/passwd");

    auto small = dir.path() / "small";
    std::filesystem::create_directory(small);
    ExtractOptions capped;
    capped.maxTreeBytes = 3007;
    ErrorCode error = ErrorCode::Failed;
    std::thread([&] { error = test::errorCodeOf([&] { copyMountedTree(source, small, capped); }); }).join();
    CHECK(error == ErrorCode::BadArchive);
}

TEST_CASE("every device node of a disk image's tree is reported", "[root]")
{
    // Run by the "(root)" meson test, skipped without root: device nodes need root.
    TempDir dir;
    auto source = dir.path() / "disk-root";
    std::filesystem::create_directories(source / "dev");
    std::filesystem::create_directories(source / "srv");
    REQUIRE(mknod((source / "dev/null").c_str(), S_IFCHR | 0666, makedev(1, 3)) == 0);
    REQUIRE(mknod((source / "srv/disk").c_str(), S_IFBLK | 0600, makedev(7, 200)) == 0);
    writeFile(source / "srv/file", "data");
    auto target = dir.path() / "tree";
    std::filesystem::create_directory(target);
    std::vector<std::filesystem::path> reported;
    ExtractOptions options;
    options.deviceNode = [&](const std::filesystem::path& path) { reported.push_back(path); };
    std::thread([&] { copyMountedTree(source, target, options); }).join();
    std::sort(reported.begin(), reported.end());
    CHECK(reported == std::vector<std::filesystem::path>{target / "dev/null", target / "srv/disk"});
    struct stat node { };
    REQUIRE(lstat((target / "srv/disk").c_str(), &node) == 0);
    CHECK(S_ISBLK(node.st_mode));
    CHECK(node.st_rdev == makedev(7, 200));
}

TEST_CASE("whiteouts naming the directory itself or its parent are refused")
{
    TempDir dir;
    auto target = dir.path() / "tree";
    writeFile(target / "etc/kept", "lower layer");
    writeFile(dir.path() / "beside", "outside the tree");
    ExtractOptions layer;
    layer.applyWhiteouts = true;
    for (const char* whiteout : {"etc/.wh..", "etc/.wh...", ".wh..", ".wh...", "etc/.wh."})
        CHECK(extractionError(makeTarGz(dir, {tarFile(whiteout, "")}), target, layer) == ErrorCode::BadArchive);
    CHECK(std::filesystem::exists(target / "etc/kept"));
    CHECK(std::filesystem::exists(dir.path() / "beside"));
}

TEST_CASE("every device node unpacked is reported, hard links to one too", "[root]")
{
    // Run by the "(root)" meson test, skipped without root: unpacking device nodes needs root.
    TempDir dir;
    auto target = dir.path() / "tree";
    std::filesystem::create_directory(target);
    auto archivePath =
        makeTarGz(dir, {tarDirectory("dev"), tarCharDevice("dev/null"), tarDirectory("srv"), tarCharDevice("srv/disk"),
                        tarHardlink("srv/alias", "dev/null"), tarFile("srv/file", "data")});
    std::vector<std::filesystem::path> reported;
    ExtractOptions options;
    options.deviceNode = [&](const std::filesystem::path& path) { reported.push_back(path); };
    UniqueFd fd(open(archivePath.c_str(), O_RDONLY));
    std::thread([&] { extractArchive(fd.get(), target, options); }).join();
    CHECK(reported ==
          std::vector<std::filesystem::path>{target / "dev/null", target / "srv/disk", target / "srv/alias"});
}

TEST_CASE("the unpacking helper's reports read back as written, in any pieces")
{
    std::vector<UnpackRecord> records{UnpackLog{"Unpacking layer 1/2."}, UnpackProgress{1, 2},
                                      UnpackDeviceNode{"unpacked/dev/null"},
                                      UnpackPartition{{2, "0FC63DAF-8483-4772-8E79-3D69D8477DE4", 1 << 20, 3 << 20}},
                                      UnpackFailure{ErrorCode::BadArchive, "refusing it"}};
    std::string stream;
    for (const auto& record : records)
        stream += encodeUnpackRecord(record);
    for (std::size_t piece : {std::size_t(1), std::size_t(3), stream.size()}) {
        UnpackReportParser parser;
        std::vector<UnpackRecord> read;
        for (std::size_t offset = 0; offset < stream.size(); offset += piece) {
            parser.feed(std::string_view(stream).substr(offset, piece));
            while (auto record = parser.next())
                read.push_back(*record);
        }
        REQUIRE(parser.empty());
        REQUIRE(read.size() == records.size());
        CHECK(std::get<UnpackLog>(read[0]).line == "Unpacking layer 1/2.");
        CHECK(std::get<UnpackProgress>(read[1]).done == 1);
        CHECK(std::get<UnpackProgress>(read[1]).total == 2);
        CHECK(std::get<UnpackDeviceNode>(read[2]).path == "unpacked/dev/null");
        const GptPartition& partition = std::get<UnpackPartition>(read[3]).partition;
        CHECK(partition.number == 2);
        CHECK(partition.typeGuid == "0FC63DAF-8483-4772-8E79-3D69D8477DE4");
        CHECK(partition.offset == 1 << 20);
        CHECK(partition.size == 3 << 20);
        CHECK(std::get<UnpackFailure>(read[4]).code == ErrorCode::BadArchive);
        CHECK(std::get<UnpackFailure>(read[4]).message == "refusing it");
    }
}

TEST_CASE("malformed reports of the unpacking helper are refused")
{
    auto parse = [](const std::string& bytes) {
        UnpackReportParser parser;
        parser.feed(bytes);
        return parser.next();
    };
    auto record = [](char tag, const std::string& payload) {
        std::string out(1, tag);
        for (int i = 0; i < 4; ++i)
            out += char((payload.size() >> (8 * i)) & 0xff);
        return out + payload;
    };
    CHECK_FALSE(parse(record('L', "incomplete").substr(0, 8)));
    CHECK_THROWS_AS(parse(record('X', "x")), Error);
    CHECK_THROWS_AS(parse(record('L', "")), Error);
    CHECK_THROWS_AS(parse(record('L', std::string("a\0b", 3))), Error);
    CHECK_THROWS_AS(parse(std::string("L\xff\xff\xff\x7f")), Error); // a length past any bound
    CHECK_THROWS_AS(parse(record('P', std::string(15, '\0'))), Error);
    CHECK_THROWS_AS(parse(record('P', std::string(16, '\0'))), Error); // of 0 steps
    for (const char* path : {"/etc/passwd", "../x", "a/../../x", "a//b", "./a", "a/"})
        CHECK_THROWS_AS(parse(record('D', path)), Error);
    CHECK_THROWS_AS(parse(record('F', "Xmessage")), Error);
    CHECK_THROWS_AS(parse(record('F', "B")), Error);
    CHECK_THROWS_AS(parse(record('K', "1234")), Error);
    // A partition: number, offset, size (little-endian), type GUID.
    auto partition = [&](std::uint32_t number, std::uint64_t offset, std::uint64_t size, const std::string& guid) {
        std::string payload;
        for (int i = 0; i < 4; ++i)
            payload += char((number >> (8 * i)) & 0xff);
        for (std::uint64_t value : {offset, size})
            for (int i = 0; i < 8; ++i)
                payload += char((value >> (8 * i)) & 0xff);
        return record('G', payload + guid);
    };
    const std::string genericLinux = "0FC63DAF-8483-4772-8E79-3D69D8477DE4";
    CHECK(parse(partition(1, 1 << 20, 1 << 20, genericLinux)));
    CHECK_THROWS_AS(parse(partition(1, 1 << 20, 1 << 20, genericLinux.substr(0, 35))), Error);
    CHECK_THROWS_AS(parse(partition(0, 1 << 20, 1 << 20, genericLinux)), Error);
    CHECK_THROWS_AS(parse(partition(1025, 1 << 20, 1 << 20, genericLinux)), Error);
    CHECK_THROWS_AS(parse(partition(1, 1 << 20, 1 << 20, "0fc63daf-8483-4772-8e79-3d69d8477de4")), Error);
    CHECK_THROWS_AS(parse(partition(1, 1 << 20, 1 << 20, "0FC63DAF+8483-4772-8E79-3D69D8477DE4")), Error);
    CHECK_THROWS_AS(parse(partition(1, 1 << 20, 1 << 20, genericLinux + "0")), Error);
    CHECK_THROWS_AS(parse(partition(1, 1 << 20, 0, genericLinux)), Error);
    CHECK_THROWS_AS(parse(partition(1, 1000, 1 << 20, genericLinux)), Error);
    CHECK_THROWS_AS(parse(partition(1, 1 << 20, 1000, genericLinux)), Error);
    CHECK_THROWS_AS(parse(partition(1, UINT64_MAX - 511, 1024, genericLinux)), Error);
}

TEST_CASE("the downloader's arguments read back as written, and nothing else is read")
{
    DownloadRequest request{"https://example.org/rootfs.tar.xz",
                            DownloadLimits{123456789, std::chrono::seconds(7), std::chrono::seconds(9), 512, 2}};
    std::vector<std::string> arguments = downloadArguments(request);
    auto parsed = parseDownloadArguments(std::vector<std::string_view>(arguments.begin(), arguments.end()));
    REQUIRE(parsed);
    CHECK(parsed->url == request.url);
    CHECK(parsed->limits.maxBytes == 123456789);
    CHECK(parsed->limits.connectTimeout == std::chrono::seconds(7));
    CHECK(parsed->limits.lowSpeedTime == std::chrono::seconds(9));
    CHECK(parsed->limits.lowSpeedBytesPerSecond == 512);
    CHECK(parsed->limits.retries == 2);
    auto with = [&](std::size_t index, std::string_view value) {
        std::vector<std::string_view> changed(arguments.begin(), arguments.end());
        changed[index] = value;
        return parseDownloadArguments(changed);
    };
    CHECK_FALSE(with(0, "file:///etc/passwd"));
    CHECK_FALSE(with(0, "ftp://example.org/x"));
    CHECK_FALSE(with(1, "-1"));
    CHECK_FALSE(with(1, "12x"));
    CHECK_FALSE(with(5, ""));
    CHECK_FALSE(parseDownloadArguments({}));
    CHECK_FALSE(parseDownloadArguments(std::vector<std::string_view>(arguments.begin(), arguments.end() - 1)));
}

TEST_CASE("a helper's failure keeps its kind through the report")
{
    for (ErrorCode code : {ErrorCode::BadArchive, ErrorCode::DownloadFailed, ErrorCode::Failed}) {
        UnpackReportParser parser;
        parser.feed(encodeUnpackRecord(UnpackFailure{code, "why"}));
        auto record = parser.next();
        REQUIRE(record);
        CHECK(std::get<UnpackFailure>(*record).code == code);
    }
    // Any other code goes out as Failed: a helper cannot claim the daemon's other errors.
    UnpackReportParser parser;
    parser.feed(encodeUnpackRecord(UnpackFailure{ErrorCode::AccessDenied, "why"}));
    CHECK(std::get<UnpackFailure>(*parser.next()).code == ErrorCode::Failed);
}

TEST_CASE("gpgv's status lines give the signing key, and stay out of the message")
{
    const std::string good = "gpgv: Signature made Mon Dec  1 10:00:00 2026 UTC\n"
                             "[GNUPG:] NEWSIG\n"
                             "[GNUPG:] GOODSIG 991BC93C Ubuntu Archive Automatic Signing Key\n"
                             "[GNUPG:] VALIDSIG A1B2C3D4E5F60718293A4B5C6D7E8F9012345678 2026-12-01 1796112000 0 4 0 1 "
                             "10 00 F6ECB3762474EDA9D21B7022871920D1991BC93C\n"
                             "gpgv: Good signature from \"Ubuntu Archive Automatic Signing Key\"\n";
    auto parsed = parseGpgvOutput(good);
    CHECK(parsed.signingKey == "F6ECB3762474EDA9D21B7022871920D1991BC93C"); // the primary key's
    CHECK(parsed.messages.find("[GNUPG:]") == std::string::npos);
    CHECK(parsed.messages.find("Good signature") != std::string::npos);
    // Without the primary key's fingerprint, the signing key's.
    CHECK(parseGpgvOutput("[GNUPG:] VALIDSIG A1B2C3D4E5F60718293A4B5C6D7E8F9012345678 2026-12-01\n").signingKey ==
          "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678");
    // No VALIDSIG, or one that is not a fingerprint: no key.
    CHECK(parseGpgvOutput("[GNUPG:] BADSIG 991BC93C someone\ngpgv: BAD signature\n").signingKey.empty());
    CHECK(parseGpgvOutput("[GNUPG:] VALIDSIG ; rm -rf /\n").signingKey.empty());
    CHECK(parseGpgvOutput("").signingKey.empty());
}
