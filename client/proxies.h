// Proxies of the daemon's objects, on top of the generated interface classes.
#pragma once

#include "bus-names.h"
#include "job-proxy.h"
#include "machine-proxy.h"
#include "manager-proxy.h"
#include "sdbus-compat.h"

#include <functional>

namespace bred::client {

using Properties = dbus::Properties;

class ManagerProxy final : public sdbus::ProxyInterfaces<org::bredos::machine1::Manager_proxy> {
public:
    explicit ManagerProxy(sdbus::IConnection& bus) :
        ProxyInterfaces(bus, dbus::ServiceName{bus::serviceName}, sdbus::ObjectPath{bus::managerPath})
    {
        registerProxy();
    }
    ~ManagerProxy() { unregisterProxy(); }

    sdbus::IProxy& raw() { return getProxy(); }

    std::function<void(std::uint32_t id, const std::string& result, const std::string& errorName,
                       const std::string& errorMessage)>
        jobRemoved;

private:
    void onMachineNew(const std::string&, const sdbus::ObjectPath&) override { }
    void onMachineRemoved(const std::string&, const sdbus::ObjectPath&) override { }
    void onJobNew(const uint32_t&, const sdbus::ObjectPath&) override { }
    void onJobRemoved(const uint32_t& id, const sdbus::ObjectPath&, const std::string& result,
                      const std::string& errorName, const std::string& errorMessage) override
    {
        if (jobRemoved)
            jobRemoved(id, result, errorName, errorMessage);
    }
};

class MachineProxy final
    : public sdbus::ProxyInterfaces<org::bredos::machine1::Machine_proxy, sdbus::Properties_proxy> {
public:
    MachineProxy(sdbus::IConnection& bus, const std::string& path) :
        ProxyInterfaces(bus, dbus::ServiceName{bus::serviceName}, sdbus::ObjectPath{path})
    {
        registerProxy();
    }
    ~MachineProxy() { unregisterProxy(); }

private:
    void onPropertiesChanged(const dbus::InterfaceName&, const Properties&,
                             const std::vector<dbus::PropertyName>&) override
    {
    }
};

class JobProxy final : public sdbus::ProxyInterfaces<org::bredos::machine1::Job_proxy, sdbus::Properties_proxy> {
public:
    JobProxy(sdbus::IConnection& bus, const std::string& path) :
        ProxyInterfaces(bus, dbus::ServiceName{bus::serviceName}, sdbus::ObjectPath{path})
    {
        registerProxy();
    }
    ~JobProxy() { unregisterProxy(); }

    sdbus::IProxy& raw() { return getProxy(); }

    std::function<void(const Properties& changed)> propertiesChanged;

private:
    // Log lines are subscribed to for every job at once, before the call (BusClient).
    void onLogMessage(const uint32_t&, const std::string&) override { }
    void onPropertiesChanged(const dbus::InterfaceName& interfaceName, const Properties& changed,
                             const std::vector<dbus::PropertyName>&) override
    {
        if (propertiesChanged && interfaceName == bus::jobInterface)
            propertiesChanged(changed);
    }
};

} // namespace bred::client
