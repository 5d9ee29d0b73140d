// The ErrorCode a call throws, for checking which error a bad input gets.
#pragma once

#include "errors.h"

#include <functional>

namespace bred::test {

// The code of the bred::Error `call` throws; Failed when it throws none.
inline ErrorCode errorCodeOf(const std::function<void()>& call)
{
    try {
        call();
    } catch (const Error& error) {
        return error.code();
    }
    return ErrorCode::Failed;
}

} // namespace bred::test
