// bred-machined-unpack: unpacks one untrusted archive, or the layers of one
// container image, or reads the partition table of one disk image, or copies
// the tree of a disk image's root partition out, for the daemon, confined to
// the job's work directory (confinement.h). The daemon keeps downloading,
// hashing and verifying, and, for a disk image, what needs CAP_SYS_ADMIN
// (which this program never has): the read-only loop mount of the root
// partition inside the work directory, and its unmount. This program gets only
// the bytes and that mounted tree, and reports on descriptor 3
// (unpack-report.h).
//
// usage: bred-machined-unpack ROOT MAX_TREE_BYTES archive TARGET
//          (the archive on standard input, any compression libarchive reads)
//        bred-machined-unpack ROOT MAX_TREE_BYTES layers IMAGE TARGET ARCHITECTURE
//          (IMAGE, an unpacked OCI layout or docker-save archive)
//        bred-machined-unpack ROOT MAX_TREE_BYTES disk IMAGE ARCHITECTURE
//          (IMAGE, the directory of a disk.raw; reports its root partition)
//        bred-machined-unpack ROOT MAX_TREE_BYTES copy SOURCE TARGET
//          (SOURCE, the mounted root partition of a disk image)
// ROOT is absolute; IMAGE, SOURCE and TARGET are existing directories relative to it.
#include "archive-extractor.h"
#include "confinement.h"
#include "disk-image.h"
#include "errors.h"
#include "helper-main.h"
#include "image-layers.h"
#include "in-root.h"

#include <cerrno>
#include <charconv>
#include <cstring>
#include <fcntl.h>
#include <fmt/format.h>
#include <string>
#include <string_view>
#include <unistd.h>
#include <vector>

namespace {

using bred::report;

[[noreturn]] void usage()
{
    throw bred::Error(bred::ErrorCode::Failed, "bred-machined-unpack: wrong arguments (see its source)");
}

// A directory relative to the root, as the daemon names it: plain components only.
std::string relativeDirectory(std::string_view path)
{
    if (path.empty() || path.front() == '/' || path.find("..") != std::string_view::npos)
        usage();
    return "/" + std::string(path);
}

std::uint64_t parseSize(std::string_view text)
{
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size())
        usage();
    return value;
}

bred::UniqueFd openDirectory(const std::string& path, const char* what)
{
    bred::UniqueFd fd(open(path.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!fd)
        throw bred::Error(bred::ErrorCode::Failed, fmt::format("cannot open {}: {}", what, std::strerror(errno)));
    return fd;
}

void run(const std::vector<std::string_view>& args)
{
    if (args.size() < 4 || args[0].empty() || args[0].front() != '/')
        usage();
    bred::ExtractOptions options;
    options.maxTreeBytes = parseSize(args[1]);
    // Paths as the daemon sees them: relative to the work directory.
    options.deviceNode = [](const std::filesystem::path& path) {
        report(bred::UnpackDeviceNode{path.lexically_relative("/").string()});
    };
    const std::string_view task = args[2];
    if (task == "archive" && args.size() == 4) {
        const std::string target = relativeDirectory(args[3]);
        bred::confineUnpacker(std::string(args[0]));
        report(bred::UnpackDone{bred::extractArchive(STDIN_FILENO, target, options)});
    } else if (task == "layers" && args.size() == 6) {
        const std::string image = relativeDirectory(args[3]);
        const std::string target = relativeDirectory(args[4]);
        bred::confineUnpacker(std::string(args[0]));
        bred::UniqueFd imageFd = openDirectory(image, "the image's directory");
        bred::unpackImageLayers(imageFd.get(), target, std::string(args[5]), options,
                                [](std::size_t index, std::size_t count) {
                                    report(bred::UnpackProgress{index, count});
                                    report(bred::UnpackLog{fmt::format("Unpacking layer {}/{}.", index + 1, count)});
                                });
        report(bred::UnpackDone{0});
    } else if (task == "disk" && args.size() == 5) {
        const std::string image = relativeDirectory(args[3]);
        bred::confineUnpacker(std::string(args[0]));
        bred::UniqueFd imageFd = openDirectory(image, "the disk image's directory");
        bred::UniqueFd disk = bred::openRegularFileInRoot(imageFd.get(), "disk.raw");
        if (!disk) // the daemon opened it as a regular file already
            throw bred::Error(bred::ErrorCode::Failed, fmt::format("cannot open disk.raw: {}", std::strerror(errno)));
        auto partition = bred::findRootPartition(bred::readGpt(disk.get()), std::string(args[4]));
        bred::checkPartitionInImage(disk.get(), partition);
        report(bred::UnpackPartition{partition});
        report(bred::UnpackDone{0});
    } else if (task == "copy" && args.size() == 5) {
        const std::string source = relativeDirectory(args[3]);
        const std::string target = relativeDirectory(args[4]);
        bred::confineUnpacker(std::string(args[0]));
        report(bred::UnpackDone{bred::copyMountedTree(source, target, options)});
    } else {
        usage();
    }
}

} // namespace

int main(int argc, char** argv) { return bred::runHelper(argc, argv, run); }
