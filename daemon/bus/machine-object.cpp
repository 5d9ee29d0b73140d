#include "machine-object.h"

#include "bus-names.h"
#include "current-error.h"
#include "event-loop.h"
#include "utf8.h"

namespace bred {

namespace {

// A measurement older than this is taken again when DiskUsage is read.
constexpr std::chrono::seconds diskUsageMaxAge{60};

} // namespace

MachineObject::MachineObject(sdbus::IConnection& bus, MachineView view, std::function<void()> wantDiskUsage) :
    AdaptorInterfaces(bus, sdbus::ObjectPath{bus::machinePath(view.info.name)}),
    view_(std::move(view)),
    wantDiskUsage_(std::move(wantDiskUsage))
{
    BRED_ASSERT_ON_LOOP_THREAD();
    registerAdaptor();
    announcing_ = true;
    try {
        emitInterfacesAddedSignal({dbus::InterfaceName{bus::machineInterface}});
    } catch (...) {
        // The object is there for whoever asks; only this announcement is lost.
        logCurrentError("Announcing machine " + view_.info.name);
    }
    announcing_ = false;
}

MachineObject::~MachineObject()
{
    BRED_ASSERT_ON_LOOP_THREAD();
    try {
        emitInterfacesRemovedSignal({dbus::InterfaceName{bus::machineInterface}});
    } catch (...) {
        // At shutdown the object manager may be gone already; nobody is left to tell.
    }
    unregisterAdaptor();
}

void MachineObject::update(MachineView view)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    const MachineInfo& before = view_.info;
    const MachineInfo& after = view.info;
    std::vector<dbus::PropertyName> changed;
    if (before.machineClass != after.machineClass)
        changed.emplace_back("Class");
    if (view_.state != view.state)
        changed.emplace_back("State");
    if (before.readOnly != after.readOnly)
        changed.emplace_back("ReadOnly");
    if (before.enabled != after.enabled)
        changed.emplace_back("Enabled");
    if (view_.unit != view.unit)
        changed.emplace_back("Unit");
    if (before.binds != after.binds)
        changed.emplace_back("Binds");
    if (before.network != after.network || before.containerNetwork != after.containerNetwork)
        changed.emplace_back("Network");
    if (before.limits != after.limits)
        changed.emplace_back("Limits");
    if (before.osRelease != after.osRelease)
        changed.emplace_back("OSRelease");
    if (before.architecture != after.architecture)
        changed.emplace_back("Architecture");
    if (before.verification != after.verification) {
        changed.emplace_back("Verification");
        changed.emplace_back("VerificationKey");
    }
    view_ = std::move(view);
    if (changed.empty())
        return;
    try {
        emitPropertiesChangedSignal(dbus::InterfaceName{bus::machineInterface}, changed);
    } catch (...) {
        logCurrentError("Signalling the changes of machine " + view_.info.name);
    }
}

void MachineObject::setDiskUsage(std::uint64_t bytes)
{
    BRED_ASSERT_ON_LOOP_THREAD();
    diskUsageMeasuredAt_ = std::chrono::steady_clock::now();
    if (bytes == diskUsage_)
        return;
    diskUsage_ = bytes;
    try {
        emitPropertiesChangedSignal(dbus::InterfaceName{bus::machineInterface}, {dbus::PropertyName{"DiskUsage"}});
    } catch (...) {
        logCurrentError("Signalling the disk usage of machine " + view_.info.name);
    }
}

std::uint64_t MachineObject::diskUsage(bool measureIfStale)
{
    // The walk runs elsewhere (DiskUsageMeter); this read gets the value as it is.
    if (measureIfStale &&
        (!diskUsageMeasuredAt_ || std::chrono::steady_clock::now() - *diskUsageMeasuredAt_ > diskUsageMaxAge))
        wantDiskUsage_();
    return diskUsage_;
}

// InterfacesAdded reads every property too, but nobody asked: discovering a
// thousand machines walks none of them.
uint64_t MachineObject::DiskUsage() { return diskUsage(!announcing_); }

std::string MachineObject::Name() { return escapeInvalidUtf8(view_.info.name); }

std::string MachineObject::Directory() { return escapeInvalidUtf8(view_.info.directory.string()); }

std::string MachineObject::Unit() { return escapeInvalidUtf8(view_.unit); }

std::string MachineObject::Architecture() { return escapeInvalidUtf8(view_.info.architecture); }

std::string MachineObject::Verification()
{
    return view_.info.verification ? view_.info.verification->method : std::string();
}

std::string MachineObject::VerificationKey()
{
    return view_.info.verification ? view_.info.verification->key : std::string();
}

std::map<std::string, std::string> MachineObject::OSRelease()
{
    std::map<std::string, std::string> osRelease;
    for (const auto& [key, value] : view_.info.osRelease)
        osRelease[escapeInvalidUtf8(key)] = escapeInvalidUtf8(value);
    return osRelease;
}

std::vector<sdbus::Struct<std::string, std::string, bool>> MachineObject::Binds()
{
    std::vector<sdbus::Struct<std::string, std::string, bool>> binds;
    for (const auto& bind : view_.info.binds)
        binds.emplace_back(escapeInvalidUtf8(bind.source), escapeInvalidUtf8(bind.destination), bind.readOnly);
    return binds;
}

std::map<std::string, sdbus::Variant> MachineObject::Network()
{
    std::map<std::string, sdbus::Variant> network{{"mode", sdbus::Variant{escapeInvalidUtf8(view_.info.network.mode)}}};
    if (!view_.info.network.bridge.empty())
        network["bridge"] = sdbus::Variant{escapeInvalidUtf8(view_.info.network.bridge)};
    if (const auto& inside = view_.info.containerNetwork) {
        network["dhcp"] = sdbus::Variant{inside->dhcp};
        if (!inside->address.empty())
            network["address"] = sdbus::Variant{escapeInvalidUtf8(inside->address)};
        if (!inside->gateway.empty())
            network["gateway"] = sdbus::Variant{escapeInvalidUtf8(inside->gateway)};
        if (!inside->dns.empty()) {
            std::vector<std::string> dns;
            for (const auto& server : inside->dns)
                dns.push_back(escapeInvalidUtf8(server));
            network["dns"] = sdbus::Variant{dns};
        }
    }
    return network;
}

std::map<std::string, sdbus::Variant> MachineObject::Limits()
{
    std::map<std::string, sdbus::Variant> limits;
    for (const auto& key : resourceLimitKeys)
        if (std::uint64_t value = view_.info.limits.*key.value)
            limits[key.name] = key.percent ? sdbus::Variant{static_cast<std::uint32_t>(value)} : sdbus::Variant{value};
    return limits;
}

} // namespace bred
