#include "output.h"

#include "format.h"

#include <cstdlib>
#include <cstring>
#include <iostream>
#include <unistd.h>

namespace bred::client {

bool colourWanted(int fd)
{
    const char* term = std::getenv("TERM");
    return isatty(fd) && std::getenv("NO_COLOR") == nullptr && !(term && std::strcmp(term, "dumb") == 0);
}

std::string colourState(const std::string& state, bool colour)
{
    if (!colour)
        return state;
    const char* code = state == "running" || state == "done"                                ? "\033[0;32m"
                       : state == "failed"                                                  ? "\033[0;31m"
                       : state == "starting" || state == "stopping" || state == "canceled" ? "\033[0;33m"
                                                                                            : nullptr;
    return code ? code + state + "\033[0m" : state;
}

void Output::printJson(const nlohmann::json& value) const
{
    // Invalid UTF-8 never reaches a consumer of our JSON: it is replaced, not thrown on.
    std::cout << value.dump(options_.json == JsonMode::Pretty ? 2 : -1, ' ', false,
                            nlohmann::json::error_handler_t::replace)
              << "\n";
}

void Output::printTable(std::vector<std::vector<std::string>> rows, const std::string& footer,
                        const std::string& empty) const
{
    if (rows.size() <= 1) {
        if (options_.legend && !options_.quiet && !empty.empty())
            std::cout << empty << "\n";
        return;
    }
    if (!options_.legend)
        rows.erase(rows.begin());
    std::cout << formatTable(rows);
    if (options_.legend && !footer.empty())
        std::cout << "\n" << footer << "\n";
}

void Output::note(const std::string& line) const
{
    if (!options_.quiet)
        std::cerr << line << "\n";
}

} // namespace bred::client
