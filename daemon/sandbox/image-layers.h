// Container image archives: an OCI image layout (oci-layout, index.json,
// blobs/) or a docker-save archive (manifest.json, <id>/layer.tar), whose
// layers are unpacked in order into one tree, whiteouts applied.
#pragma once

#include "archive-extractor.h"

#include <filesystem>
#include <functional>
#include <string>

namespace bred {

// `imageFd` is the unpacked image archive; the layers go into `target`.
// `architecture` (the distribution's own name, e.g. "amd64") picks a manifest
// from a multi-platform index. `onLayer` is called before each layer with its
// index and the number of layers. Throws Error(BadArchive) for a broken image.
void unpackImageLayers(int imageFd, const std::filesystem::path& target, const std::string& architecture,
                       const ExtractOptions& options,
                       const std::function<void(std::size_t index, std::size_t count)>& onLayer);

} // namespace bred
