#include "job-object.h"

#include "bus-names.h"

namespace bred {

JobObject::JobObject(sdbus::IConnection& bus, std::shared_ptr<Job> job, CancelHandler cancel)
    : AdaptorInterfaces(bus, bus::jobPath(job->id())), job_(std::move(job)), cancel_(std::move(cancel)),
      published_(job_->progress())
{
    registerAdaptor();
    emitInterfacesAddedSignal({bus::jobInterface});
}

JobObject::~JobObject()
{
    try {
        emitInterfacesRemovedSignal({bus::jobInterface});
    } catch (const sdbus::Error&) {
        // At shutdown the object manager may be gone already; nobody is left to tell.
    }
    unregisterAdaptor();
}

void JobObject::Cancel(sdbus::Result<>&& result)
{
    cancel_(std::move(result), *getObject().getCurrentlyProcessedMessage());
}

void JobObject::publish()
{
    for (const auto& line : job_->takeLogLines())
        emitLogMessage(line.priority, line.line);
    JobProgress now = job_->progress();
    std::vector<std::string> changed;
    if (now.state != published_.state)
        changed.push_back("State");
    if (now.progress != published_.progress)
        changed.push_back("Progress");
    if (now.stage != published_.stage)
        changed.push_back("Stage");
    if (now.bytesDone != published_.bytesDone)
        changed.push_back("BytesDone");
    if (now.bytesTotal != published_.bytesTotal)
        changed.push_back("BytesTotal");
    if (now.exitStatus != published_.exitStatus)
        changed.push_back("ExitStatus");
    published_ = now;
    if (!changed.empty())
        emitPropertiesChangedSignal(bus::jobInterface, changed);
}

} // namespace bred
