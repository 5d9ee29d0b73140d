#include "log-fields.h"

#include <utility>

namespace bred {
namespace {

thread_local LogFields threadFields;

} // namespace

const LogFields& currentLogFields() { return threadFields; }

ScopedLogFields::ScopedLogFields(LogFields fields) : previous_(std::exchange(threadFields, std::move(fields))) { }

ScopedLogFields::~ScopedLogFields() { threadFields = std::move(previous_); }

} // namespace bred
