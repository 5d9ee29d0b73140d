#include "image-layers.h"

#include "checksum.h"
#include "errors.h"
#include "in-root.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <unistd.h>
#include <vector>

namespace bred {
namespace {

constexpr std::size_t maxJsonSize = 4 << 20;

nlohmann::json readJson(int imageFd, const std::string& path)
{
    auto text = readFileInRoot(imageFd, path, maxJsonSize);
    if (!text)
        throw Error(ErrorCode::BadArchive, fmt::format("The image has no readable {}.", path));
    try {
        return nlohmann::json::parse(*text);
    } catch (const nlohmann::json::exception& error) {
        throw Error(ErrorCode::BadArchive, fmt::format("The image's {} is not valid JSON: {}", path, error.what()));
    }
}

// "sha256:<64 hex>" → "blobs/sha256/<hex>", refusing anything else.
std::string blobPath(const nlohmann::json& descriptor)
{
    std::string digest = descriptor.value("digest", "");
    if (!digest.starts_with("sha256:") || !isHexDigest(digest.substr(7), HashAlgorithm::Sha256))
        throw Error(ErrorCode::BadArchive, fmt::format("The image has an unsupported digest '{}'.", digest));
    return "blobs/sha256/" + digest.substr(7);
}

// Checks a blob's content against its digest.
void verifyBlob(int imageFd, const std::string& path)
{
    UniqueFd fd = openRegularFileInRoot(imageFd, path);
    if (!fd)
        throw Error(ErrorCode::BadArchive, fmt::format("The image lacks {} (a regular file).", path));
    Hasher hasher(HashAlgorithm::Sha256);
    std::vector<char> buffer(1 << 20);
    for (ssize_t n; (n = read(fd.get(), buffer.data(), buffer.size())) > 0;)
        hasher.update(buffer.data(), std::size_t(n));
    if (hasher.finish() != path.substr(path.rfind('/') + 1))
        throw Error(ErrorCode::BadArchive, fmt::format("The image's {} does not match its digest.", path));
}

// The manifest's layer paths, following an index to the right platform.
std::vector<std::string> ociLayers(int imageFd, const std::string& architecture)
{
    nlohmann::json index = readJson(imageFd, "index.json");
    for (int depth = 0; depth < 4; ++depth) {
        const auto& manifests = index["manifests"];
        if (!manifests.is_array() || manifests.empty())
            throw Error(ErrorCode::BadArchive, "The image index lists no manifests.");
        const nlohmann::json* chosen = &manifests[0];
        for (const auto& candidate : manifests)
            if (candidate.contains("platform") && candidate["platform"].value("architecture", "") == architecture)
                chosen = &candidate;
        std::string path = blobPath(*chosen);
        verifyBlob(imageFd, path);
        nlohmann::json document = readJson(imageFd, path);
        if (document.contains("manifests")) {
            index = document; // a nested index
            continue;
        }
        std::vector<std::string> layers;
        for (const auto& layer : document["layers"]) {
            layers.push_back(blobPath(layer));
            verifyBlob(imageFd, layers.back());
        }
        return layers;
    }
    throw Error(ErrorCode::BadArchive, "The image's indexes nest too deeply.");
}

std::vector<std::string> dockerLayers(int imageFd)
{
    nlohmann::json manifest = readJson(imageFd, "manifest.json");
    if (!manifest.is_array() || manifest.empty() || !manifest[0]["Layers"].is_array())
        throw Error(ErrorCode::BadArchive, "The image's manifest.json lists no layers.");
    std::vector<std::string> layers;
    for (const auto& layer : manifest[0]["Layers"])
        layers.push_back(layer.get<std::string>());
    return layers;
}

} // namespace

void unpackImageLayers(int imageFd, const std::filesystem::path& target, const std::string& architecture,
                       const ExtractOptions& options,
                       const std::function<void(std::size_t index, std::size_t count)>& onLayer)
{
    bool oci = readFileInRoot(imageFd, "oci-layout", maxJsonSize).has_value();
    std::vector<std::string> layers;
    try {
        layers = oci ? ociLayers(imageFd, architecture) : dockerLayers(imageFd);
    } catch (const nlohmann::json::exception& error) {
        throw Error(ErrorCode::BadArchive, fmt::format("The image's metadata is malformed: {}", error.what()));
    }
    ExtractOptions layerOptions = options;
    layerOptions.applyWhiteouts = true;
    for (std::size_t i = 0; i < layers.size(); ++i) {
        // Paths come from the archive: open them inside it, never through its symlinks.
        UniqueFd layer = openRegularFileInRoot(imageFd, layers[i]);
        if (!layer)
            throw Error(ErrorCode::BadArchive,
                        fmt::format("The image lacks its layer {} (a regular file).", layers[i]));
        onLayer(i, layers.size());
        extractArchive(layer.get(), target, layerOptions);
    }
}

} // namespace bred
