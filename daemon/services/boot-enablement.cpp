#include "boot-enablement.h"

#include "atomic-file.h"
#include "nspawn-command.h"

namespace bred {

std::filesystem::path BootEnablement::wanted(const std::string& unit) const
{
    return unitDirectory_ / "machines.target.wants" / unit;
}

bool BootEnablement::isEnabled(const std::string& name) const
{
    std::error_code error;
    return std::filesystem::is_symlink(wanted(containerUnitName(name)), error) || isEnabledByMachinectl(name);
}

bool BootEnablement::isEnabledByMachinectl(const std::string& name) const
{
    std::error_code error;
    return std::filesystem::is_symlink(wanted(machinectlUnitName(name)), error);
}

std::filesystem::path BootEnablement::unitFile(const std::string& name) const
{
    return unitDirectory_ / containerUnitName(name);
}

bool BootEnablement::hasUnitFile(const std::string& name) const
{
    std::error_code error;
    return std::filesystem::exists(unitFile(name), error);
}

void BootEnablement::writeUnitFile(const std::string& name, const std::filesystem::path& directory,
                                   const ResourceLimits& limits) const
{
    writeFileAtomically(unitFile(name), containerUnitFile(containerService(name, directory, limits), directory));
}

void BootEnablement::removeUnitFile(const std::string& name) const
{
    std::error_code error;
    std::filesystem::remove(unitFile(name), error);
}

std::vector<std::string> BootEnablement::unitsToDisable(const std::string& name) const
{
    std::vector<std::string> units;
    if (hasUnitFile(name))
        units.push_back(containerUnitName(name));
    if (isEnabledByMachinectl(name))
        units.push_back(machinectlUnitName(name));
    return units;
}

} // namespace bred
