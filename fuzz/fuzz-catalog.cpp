// The distribution catalog (TOML) and the URLs resolved from it.
#include "catalog.h"
#include "errors.h"

#include <cstdint>
#include <string>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    try {
        Catalog catalog = Catalog::parse({{"fuzz.toml", std::string(reinterpret_cast<const char*>(data), size)}});
        for (const auto& distribution : catalog.distributions()) {
            catalog.releaseListing(distribution.id);
            for (const auto& release : distribution.releases) {
                Distribution chosen = catalog.choose(distribution.id, release.id);
                for (const auto& [architecture, native] : chosen.architectures) {
                    try {
                        Catalog::latestIndex(chosen, architecture);
                        Catalog::resolve(chosen, architecture);
                    } catch (const Error&) {
                    }
                }
            }
        }
    } catch (const Error&) {
    }
    return 0;
}
