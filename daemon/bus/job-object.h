// org.bredos.machine1.Job: the bus view of one Job.
#pragma once

#include "job-adaptor.h"
#include "job.h"

#include <functional>
#include <memory>
#include "sdbus-compat.h"

namespace bred {

class JobObject final : public sdbus::AdaptorInterfaces<org::bredos::machine1::Job_adaptor,
                                                        sdbus::ManagedObject_adaptor, sdbus::Properties_adaptor> {
public:
    using CancelHandler = std::function<void(sdbus::Result<>&& result, const sdbus::Message& message)>;

    JobObject(sdbus::IConnection& bus, std::shared_ptr<Job> job, CancelHandler cancel);
    ~JobObject();

    // Signals the log lines and the properties that changed since the last call.
    void publish();

private:
    void Cancel(sdbus::Result<>&& result) override;
    uint32_t Id() override { return job_->id(); }
    // Text that leaves here passes escapeInvalidUtf8(): stages and log lines quote commands, archives and trees.
    std::string Type() override;
    std::string Machine() override;
    std::string State() override { return std::string(jobStateName(published_.state)); }
    double Progress() override { return published_.progress; }
    std::string Stage() override;
    uint64_t BytesDone() override { return published_.bytesDone; }
    uint64_t BytesTotal() override { return published_.bytesTotal; }
    int32_t ExitStatus() override { return published_.exitStatus; }

    std::shared_ptr<Job> job_;
    CancelHandler cancel_;
    // What the bus has been told; properties read between two publish() calls stay consistent with the signals.
    JobProgress published_;
};

} // namespace bred
