#include "job-object.h"

#include "bus-names.h"
#include "current-error.h"
#include "event-loop.h"
#include "dbus-error.h"
#include "utf8.h"

#include <fmt/format.h>

namespace bred {

JobObject::JobObject(sdbus::IConnection& bus, std::shared_ptr<Job> job, CancelHandler cancel) :
    AdaptorInterfaces(bus, sdbus::ObjectPath{bus::jobPath(job->id())}),
    job_(std::move(job)),
    cancel_(std::move(cancel)),
    published_(job_->progress())
{
    BRED_ASSERT_ON_LOOP_THREAD();
    registerAdaptor();
    try {
        emitInterfacesAddedSignal({dbus::InterfaceName{bus::jobInterface}});
    } catch (...) {
        // The object is there for whoever asks; only this announcement is lost.
        logCurrentError(fmt::format("Announcing job {}", job_->id()));
    }
}

JobObject::~JobObject()
{
    BRED_ASSERT_ON_LOOP_THREAD();
    try {
        emitInterfacesRemovedSignal({dbus::InterfaceName{bus::jobInterface}});
    } catch (...) {
        // At shutdown the object manager may be gone already; nobody is left to tell.
    }
    unregisterAdaptor();
}

void JobObject::Cancel(sdbus::Result<>&& result)
try {
    cancel_(std::move(result), dbus::currentMessage(getObject()));
} catch (...) {
    throw toDbusError(currentError(fmt::format("Cancel of job {}", job_->id())));
}

std::string JobObject::Type() { return escapeInvalidUtf8(job_->type()); }

std::string JobObject::Machine() { return escapeInvalidUtf8(job_->machine()); }

std::string JobObject::Stage() { return escapeInvalidUtf8(published_.stage); }

void JobObject::publish()
{
    BRED_ASSERT_ON_LOOP_THREAD();
    // A signal that cannot go out is logged and skipped: the job and the other signals go on.
    auto emitting = [this](const char* what, const auto& emit) {
        try {
            emit();
        } catch (...) {
            logCurrentError(fmt::format("Signalling {} of job {}", what, job_->id()));
        }
    };
    for (const auto& line : job_->takeLogLines())
        emitting("a log line", [&] { emitLogMessage(line.priority, escapeInvalidUtf8(line.line)); });
    JobProgress now = job_->progress();
    std::vector<dbus::PropertyName> changed;
    if (now.state != published_.state)
        changed.emplace_back("State");
    if (now.progress != published_.progress)
        changed.emplace_back("Progress");
    if (now.stage != published_.stage)
        changed.emplace_back("Stage");
    if (now.bytesDone != published_.bytesDone)
        changed.emplace_back("BytesDone");
    if (now.bytesTotal != published_.bytesTotal)
        changed.emplace_back("BytesTotal");
    if (now.exitStatus != published_.exitStatus)
        changed.emplace_back("ExitStatus");
    published_ = now;
    if (!changed.empty())
        emitting("the changed properties",
                 [&] { emitPropertiesChangedSignal(dbus::InterfaceName{bus::jobInterface}, changed); });
}

} // namespace bred
