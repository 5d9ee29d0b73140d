// An OCI image layout or docker-save archive: index.json, manifests and
// configs (JSON), then the layers unpacked in order, whiteouts applied, into
// a scratch tree; anything written beside the tree aborts (scratch-arena.h).
//
// Input: parts separated by "\n--part--\n". Part 0 is the top-level file:
// index.json when the input starts with '{' (with an oci-layout file), else
// the docker manifest.json. Every later part N is stored as the blob
// blobs/sha256/<its digest>, and under the name "N" for docker manifests.
// "@N" in a part stands for part N's digest, so that an input can name a
// blob without knowing its hash; parts may only name later parts.
#include "errors.h"
#include "image-layers.h"
#include "checksum.h"
#include "scratch-arena.h"

#include <cstdint>
#include <cstdlib>
#include <fcntl.h>
#include <string>
#include <string_view>
#include <sys/stat.h>
#include <vector>

using namespace bred;

namespace {

// The unpacked image archive and the tree its layers go into, each alone in its arena.
fuzz::ScratchArena* images;
fuzz::ScratchArena* trees;
constexpr std::string_view separator = "\n--part--\n";

std::vector<std::string> splitParts(std::string_view input)
{
    std::vector<std::string> parts;
    for (;;) {
        auto end = input.find(separator);
        parts.emplace_back(input.substr(0, end));
        if (end == std::string_view::npos || parts.size() == 16)
            return parts;
        input.remove_prefix(end + separator.size());
    }
}

std::string sha256(const std::string& data)
{
    Hasher hasher(HashAlgorithm::Sha256);
    hasher.update(data.data(), data.size());
    return hasher.finish();
}

// Replaces "@N" (N a later part) by that part's digest.
std::string substituteDigests(const std::string& part, std::size_t index, const std::vector<std::string>& digests)
{
    std::string out;
    for (std::size_t i = 0; i < part.size(); ++i) {
        std::size_t n = i + 1 < part.size() ? std::size_t(part[i + 1] - '0') : 100;
        if (part[i] == '@' && n < digests.size() && n > index) {
            out += digests[n];
            ++i;
        } else {
            out += part[i];
        }
    }
    return out;
}

// Two parts may be the same blob: then it is written twice.
void writeFile(int dirFd, const std::string& name, const std::string& content)
{
    UniqueFd fd(openat(dirFd, name.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644));
    if (!fd || write(fd.get(), content.data(), content.size()) != ssize_t(content.size()))
        std::abort();
}

} // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***)
{
    images = new fuzz::ScratchArena;
    trees = new fuzz::ScratchArena;
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    auto parts = splitParts(std::string_view(reinterpret_cast<const char*>(data), size));
    std::vector<std::string> digests(parts.size());
    for (std::size_t i = parts.size(); i-- > 0;) {
        parts[i] = substituteDigests(parts[i], i, digests);
        digests[i] = sha256(parts[i]);
    }

    UniqueFd image(open(images->freshTree().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!image || mkdirat(image.get(), "blobs", 0755) < 0 || mkdirat(image.get(), "blobs/sha256", 0755) < 0)
        std::abort();
    bool oci = !parts[0].empty() && parts[0].front() == '{';
    if (oci)
        writeFile(image.get(), "oci-layout", R"({"imageLayoutVersion": "1.0.0"})");
    writeFile(image.get(), oci ? "index.json" : "manifest.json", parts[0]);
    for (std::size_t i = 1; i < parts.size(); ++i) {
        writeFile(image.get(), "blobs/sha256/" + digests[i], parts[i]);
        writeFile(image.get(), std::to_string(i), parts[i]);
    }

    ExtractOptions options;
    options.maxTreeBytes = 64 << 20;
    try {
        unpackImageLayers(image.get(), trees->freshTree(), "amd64", options, [](std::size_t, std::size_t) {});
    } catch (const Error&) {
    }
    image.reset();
    trees->finish();
    images->finish();
    return 0;
}
