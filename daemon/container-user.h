// Login users inside containers: the useradd command line that AddUser runs
// inside the container, and what its exit status means.
#pragma once

#include <optional>
#include <string>
#include <vector>

namespace bred {

// `useradd --create-home ... -- USER`, after checking every value. Throws
// Error(InvalidName) for a bad user name, Error(InvalidArgs) for a bad option,
// naming what is wrong.
std::vector<std::string> userAddCommand(const std::string& user, const std::optional<std::string>& passwordHash,
                                        const std::optional<std::vector<std::string>>& groups,
                                        const std::optional<std::string>& shell);

// Throws the error useradd's exit `status` stands for (AlreadyExists for a
// taken name), with what it printed; returns when it succeeded.
void checkUserAddStatus(int status, const std::string& user, const std::string& machine,
                        const std::vector<std::string>& output);

} // namespace bred
