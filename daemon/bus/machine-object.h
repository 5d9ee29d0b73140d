// org.bredos.machine1.Machine: one object per machine, a view of MachineInfo
// plus its run state.
#pragma once

#include "machine-adaptor.h"
#include "machine-store.h"

#include "sdbus-compat.h"

#include <chrono>
#include <functional>
#include <optional>

namespace bred {

struct MachineView {
    MachineInfo info;
    std::string state = "stopped"; // stopped, starting, running, stopping, failed
    std::string unit;
};

class MachineObject final : public sdbus::AdaptorInterfaces<org::bredos::machine1::Machine_adaptor,
                                                            sdbus::ManagedObject_adaptor, sdbus::Properties_adaptor> {
public:
    // `wantDiskUsage` is called when DiskUsage is read and its value is unknown or stale.
    MachineObject(sdbus::IConnection& bus, MachineView view, std::function<void()> wantDiskUsage);
    ~MachineObject();

    const MachineView& view() const { return view_; }
    // Takes the new view and signals the properties that changed.
    void update(MachineView view);
    // Takes a new measurement of the tree's disk usage, signalled when it changed.
    void setDiskUsage(std::uint64_t bytes);
    // The last measurement (UINT64_MAX: none yet); with `measureIfStale`, a
    // value unknown or older than a minute is measured again, off the loop.
    std::uint64_t diskUsage(bool measureIfStale);

private:
    // Every string property passes escapeInvalidUtf8(): os-release, the host0 file and settings come from
    // files that container root or an administrator may fill with any bytes.
    std::string Name() override;
    std::string Class() override { return std::string(machineClassName(view_.info.machineClass)); }
    std::string State() override { return view_.state; }
    std::string Directory() override;
    bool ReadOnly() override { return view_.info.readOnly; }
    bool Enabled() override { return view_.info.enabled; }
    std::string Unit() override;
    std::vector<sdbus::Struct<std::string, std::string, bool>> Binds() override;
    std::map<std::string, sdbus::Variant> Network() override;
    std::map<std::string, sdbus::Variant> Limits() override;
    std::map<std::string, std::string> OSRelease() override;
    std::string Architecture() override;
    uint64_t CreationTimestamp() override { return view_.info.creationTimestamp; }
    std::string Verification() override;
    std::string VerificationKey() override;
    uint64_t DiskUsage() override;

    MachineView view_;
    std::function<void()> wantDiskUsage_;
    // UINT64_MAX until the first measurement, as systemd gives counters it does not know.
    std::uint64_t diskUsage_ = UINT64_MAX;
    std::optional<std::chrono::steady_clock::time_point> diskUsageMeasuredAt_;
    bool announcing_ = false; // emitting InterfacesAdded, which reads DiskUsage without a caller
};

} // namespace bred
