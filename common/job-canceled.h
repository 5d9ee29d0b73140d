// The one signal that work stopped because it was asked to: a job's cancel,
// seen wherever the work is (a copy, an unpacking, a command), ends the job
// `canceled` when it reaches the job's runner, with no translation on the way.
#pragma once

namespace bred {

struct JobCanceled { };

} // namespace bred
