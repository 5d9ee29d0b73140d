#include "process-tree.h"

#include <algorithm>
#include <map>
#include <memory>

namespace bred::client {
namespace {

struct Group {
    std::vector<const UnitProcess*> processes;
    std::map<std::string, std::unique_ptr<Group>> children;
};

// Columns, as a terminal counts them: the box-drawing characters are one
// column in three bytes.
std::size_t columns(const std::string& text)
{
    return std::size_t(std::count_if(text.begin(), text.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string fit(std::string line, std::size_t width)
{
    if (columns(line) <= width)
        return line;
    std::size_t kept = 0, at = 0;
    while (at < line.size() && kept + 1 < width) {
        ++at;
        while (at < line.size() && (line[at] & 0xC0) == 0x80)
            ++at;
        ++kept;
    }
    return line.substr(0, at) + "…";
}

void draw(const Group& group, const std::string& prefix, std::size_t width, std::vector<std::string>& lines)
{
    auto processes = group.processes;
    std::sort(processes.begin(), processes.end(),
              [](const UnitProcess* a, const UnitProcess* b) { return a->pid < b->pid; });
    std::size_t remaining = processes.size() + group.children.size();
    auto branch = [&](const std::string& text) {
        bool last = --remaining == 0;
        lines.push_back(fit(prefix + (last ? "└─" : "├─") + text, width));
        return prefix + (last ? "  " : "│ ");
    };
    for (const auto* process : processes)
        branch(std::to_string(process->pid) + " " + process->commandLine);
    for (const auto& [name, child] : group.children)
        draw(*child, branch(name), width, lines);
}

} // namespace

std::vector<std::string> drawProcessTree(const std::string& root, const std::vector<UnitProcess>& processes,
                                         std::size_t width)
{
    Group top;
    for (const auto& process : processes) {
        if (process.cgroup.compare(0, root.size(), root) != 0)
            continue;
        std::string rest = process.cgroup.substr(root.size());
        if (!rest.empty() && rest[0] != '/')
            continue; // a sibling whose name starts with ours
        Group* group = &top;
        for (std::size_t start = 0; start < rest.size();) {
            std::size_t end = rest.find('/', start);
            if (end == std::string::npos)
                end = rest.size();
            if (end > start) {
                auto& child = group->children[rest.substr(start, end - start)];
                if (!child)
                    child = std::make_unique<Group>();
                group = child.get();
            }
            start = end + 1;
        }
        group->processes.push_back(&process);
    }
    std::vector<std::string> lines;
    draw(top, "", width, lines);
    return lines;
}

} // namespace bred::client
