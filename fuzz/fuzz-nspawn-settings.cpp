// A machine's .nspawn file, read and then edited as the daemon does; an
// edit must read back as written whatever the file held before.
#include "nspawn-settings.h"

#include <cstdint>
#include <cstdlib>
#include <string_view>

using namespace bred;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    parseNspawnSettings(text);

    const BindMount bind{"/srv/data:1", "/data", true};
    NspawnSettingsEditor editor(text);
    editor.setBind(bind);
    editor.setNetwork({"veth", ""});
    NspawnSettings edited = parseNspawnSettings(editor.text());
    if (edited.binds.empty() || edited.binds.back() != bind || edited.network.mode != "veth")
        std::abort();

    editor.removeBind(bind.destination);
    editor.setNetwork({"bridge", "br0"});
    edited = parseNspawnSettings(editor.text());
    for (const auto& kept : edited.binds)
        if (kept.destination == bind.destination)
            std::abort();
    if (edited.network != NetworkSettings{"bridge", "br0"})
        std::abort();
    return 0;
}
