// How the client prints: tables with or without their legend, JSON in the
// chosen mode, colour only where it helps and is wanted.
#pragma once

#include "command-line.h"

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace bred::client {

// Colour on `fd` only on a terminal, and never when NO_COLOR is set or TERM is dumb (no-color.org).
bool colourWanted(int fd);

// `text` in the colour a machine or job state has (running green, failed red...), if colour is on.
std::string colourState(const std::string& state, bool colour);

class Output {
public:
    explicit Output(const GlobalOptions& options) : options_(options) { }

    bool json() const { return options_.json != JsonMode::Off; }
    void printJson(const nlohmann::json& value) const;
    // The header row goes only with the legend; `footer` too (empty: none).
    // `empty` is said instead of an empty table, unless -q.
    void printTable(std::vector<std::vector<std::string>> rows, const std::string& footer,
                    const std::string& empty) const;
    // An informational line on stderr, unless -q.
    void note(const std::string& line) const;

private:
    const GlobalOptions& options_;
};

} // namespace bred::client
