#include "machine-object.h"

#include "bus-names.h"

namespace bred {

MachineObject::MachineObject(sdbus::IConnection& bus, MachineView view)
    : AdaptorInterfaces(bus, bus::machinePath(view.info.name)), view_(std::move(view))
{
    registerAdaptor();
    emitInterfacesAddedSignal({bus::machineInterface});
}

MachineObject::~MachineObject()
{
    try {
        emitInterfacesRemovedSignal({bus::machineInterface});
    } catch (const sdbus::Error&) {
        // At shutdown the object manager may be gone already; nobody is left to tell.
    }
    unregisterAdaptor();
}

void MachineObject::update(MachineView view)
{
    const MachineInfo& before = view_.info;
    const MachineInfo& after = view.info;
    std::vector<std::string> changed;
    if (before.machineClass != after.machineClass)
        changed.push_back("Class");
    if (view_.state != view.state)
        changed.push_back("State");
    if (before.readOnly != after.readOnly)
        changed.push_back("ReadOnly");
    if (before.enabled != after.enabled)
        changed.push_back("Enabled");
    if (view_.unit != view.unit)
        changed.push_back("Unit");
    if (before.binds != after.binds)
        changed.push_back("Binds");
    if (before.network != after.network || before.containerNetwork != after.containerNetwork)
        changed.push_back("Network");
    if (before.osRelease != after.osRelease)
        changed.push_back("OSRelease");
    if (before.architecture != after.architecture)
        changed.push_back("Architecture");
    view_ = std::move(view);
    if (!changed.empty())
        emitPropertiesChangedSignal(bus::machineInterface, changed);
}

std::vector<sdbus::Struct<std::string, std::string, bool>> MachineObject::Binds()
{
    std::vector<sdbus::Struct<std::string, std::string, bool>> binds;
    for (const auto& bind : view_.info.binds)
        binds.emplace_back(bind.source, bind.destination, bind.readOnly);
    return binds;
}

std::map<std::string, sdbus::Variant> MachineObject::Network()
{
    std::map<std::string, sdbus::Variant> network{{"mode", view_.info.network.mode}};
    if (!view_.info.network.bridge.empty())
        network["bridge"] = view_.info.network.bridge;
    if (const auto& inside = view_.info.containerNetwork) {
        network["dhcp"] = inside->dhcp;
        if (!inside->address.empty())
            network["address"] = inside->address;
        if (!inside->gateway.empty())
            network["gateway"] = inside->gateway;
        if (!inside->dns.empty())
            network["dns"] = inside->dns;
    }
    return network;
}

} // namespace bred
