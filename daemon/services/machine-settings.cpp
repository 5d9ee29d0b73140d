#include "machine-settings.h"

#include "errors.h"
#include "refusals.h"
#include "unique-fd.h"

#include <fcntl.h>
#include <fmt/format.h>

namespace bred {

bool MachineSettings::bind(const BindRequest& request) const
{
    const BindMount& bind = request.bind;
    if (request.makeSource) {
        std::error_code error;
        std::filesystem::create_directories(bind.source, error);
        if (error)
            throw Error(ErrorCode::Failed, fmt::format("cannot create {}: {}", bind.source, error.message()));
    } else {
        std::error_code existsError;
        if (!std::filesystem::exists(bind.source, existsError))
            throw Error(
                ErrorCode::InvalidArgs,
                fmt::format("The source {} does not exist on the host; create it, or pass mkdir.", bind.source));
    }
    return store_.editSettings(request.name, [&](NspawnSettingsEditor& settings) { settings.setBind(bind); });
}

bool MachineSettings::unbind(const UnbindRequest& request) const
{
    return store_.editSettings(request.name, [&](NspawnSettingsEditor& settings) {
        if (!settings.removeBind(request.destination))
            throw Error(ErrorCode::InvalidArgs,
                        fmt::format("'{}' has no bind at {}; 'bredmachine status {}' lists them.", request.name,
                                    request.destination, request.name));
    });
}

bool MachineSettings::setNetwork(const NetworkRequest& request, const std::filesystem::path& directory) const
{
    UniqueFd treeFd(open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
    if (!treeFd)
        throw refusal::noSuchMachine(request.name);
    writeContainerNetwork(treeFd.get(), request.containerSide);
    return store_.editSettings(request.name,
                               [&](NspawnSettingsEditor& settings) { settings.setNetwork(request.hostSide); });
}

bool MachineSettings::rename(const RenameRequest& request, MachineClass machineClass) const
{
    store_.rename(request.name, request.newName);
    if (machineClass != MachineClass::Container)
        return false;
    return store_.editSettings(request.newName, [](NspawnSettingsEditor&) {});
}

bool MachineSettings::setLimits(const LimitsRequest& request) const
{
    ResourceLimits limits = appliedLimits(store_.limits(request.name), request);
    return store_.editSettings(request.name, [&](NspawnSettingsEditor& settings) { settings.setLimits(limits); });
}

} // namespace bred
