#include "nspawn-settings.h"

#include "errors.h"
#include "names.h"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <iterator>

namespace bred {
namespace {

std::string_view trim(std::string_view text)
{
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r'))
        text.remove_suffix(1);
    return text;
}

bool parseBoolean(std::string_view value)
{
    return value == "1" || value == "yes" || value == "y" || value == "true" || value == "t" || value == "on";
}

// Splits "SRC[:DST[:OPTIONS]]" at unescaped colons; "\:" stands for a colon in a path.
std::vector<std::string> splitBindSpec(std::string_view spec)
{
    std::vector<std::string> parts(1);
    for (std::size_t i = 0; i < spec.size(); ++i) {
        if (spec[i] == '\\' && i + 1 < spec.size() && spec[i + 1] == ':') {
            parts.back() += ':';
            ++i;
        } else if (spec[i] == ':') {
            parts.emplace_back();
        } else {
            parts.back() += spec[i];
        }
    }
    return parts;
}

BindMount parseBind(std::string_view spec, bool readOnly)
{
    auto parts = splitBindSpec(spec);
    BindMount bind;
    bind.readOnly = readOnly;
    // A leading '+' makes the source relative to the container's root; keep it verbatim.
    bind.source = parts[0];
    bind.destination = parts.size() > 1 && !parts[1].empty() ? parts[1] : parts[0];
    return bind;
}

} // namespace

NspawnSettings parseNspawnSettings(std::string_view text)
{
    NspawnSettings settings;
    bool virtualEthernet = false, privateNetwork = false;
    std::string section;
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string_view line = trim(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        if (line.empty() || line.front() == '#' || line.front() == ';')
            continue;
        if (line.front() == '[' && line.back() == ']') {
            section = std::string(line.substr(1, line.size() - 2));
            continue;
        }
        auto equals = line.find('=');
        if (equals == std::string_view::npos)
            continue;
        std::string_view key = trim(line.substr(0, equals));
        std::string_view value = trim(line.substr(equals + 1));
        if (section == "Files" && (key == "Bind" || key == "BindReadOnly")) {
            if (value.empty())
                settings.binds.clear(); // an empty assignment resets the list
            else
                settings.binds.push_back(parseBind(value, key == "BindReadOnly"));
        } else if (section == limitsSection) {
            const ResourceLimitKey* limit = findResourceLimitKey(std::string(key));
            std::uint64_t number = 0;
            auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), number);
            // A line we cannot read is as if it were not there: that limit is not set.
            if (limit && error == std::errc() && end == value.data() + value.size())
                settings.limits.*limit->value = number;
        } else if (section == "Network") {
            if (key == "VirtualEthernet")
                virtualEthernet = parseBoolean(value);
            else if (key == "Bridge")
                settings.network.bridge = std::string(value);
            else if (key == "Private")
                privateNetwork = parseBoolean(value);
        }
    }
    if (!settings.network.bridge.empty())
        settings.network.mode = "bridge";
    else if (virtualEthernet)
        settings.network.mode = "veth";
    else if (privateNetwork)
        settings.network.mode = "private";
    return settings;
}

} // namespace bred

namespace bred {
namespace {

std::string escapeColons(const std::string& path)
{
    std::string out;
    for (char c : path) {
        if (c == ':')
            out += '\\';
        out += c;
    }
    return out;
}

} // namespace

std::string bindSpec(const BindMount& bind) { return escapeColons(bind.source) + ":" + escapeColons(bind.destination); }

NspawnSettingsEditor::NspawnSettingsEditor(std::string_view text)
{
    std::string section;
    while (!text.empty()) {
        auto newline = text.find('\n');
        std::string raw(text.substr(0, newline));
        text.remove_prefix(newline == std::string_view::npos ? text.size() : newline + 1);
        std::string_view line = trim(raw);
        std::string key;
        if (!line.empty() && line.front() == '[' && line.back() == ']') {
            section = std::string(line.substr(1, line.size() - 2));
        } else if (!line.empty() && line.front() != '#' && line.front() != ';') {
            auto equals = line.find('=');
            if (equals != std::string_view::npos)
                key = std::string(trim(line.substr(0, equals)));
        }
        lines_.push_back({section, key, raw});
    }
}

void NspawnSettingsEditor::removeKeys(const std::string& section, const std::vector<std::string>& keys)
{
    std::erase_if(lines_, [&](const Line& line) {
        return line.section == section && std::find(keys.begin(), keys.end(), line.key) != keys.end();
    });
}

void NspawnSettingsEditor::append(const std::string& section, const std::string& key, const std::string& value)
{
    // The callers validate each value by its type; a line break that got past them
    // would still end the line and start one of the caller's choosing.
    if (hasControlCharacter(value))
        throw Error(ErrorCode::InvalidArgs,
                    fmt::format("Refusing to write {}= with a control character into the machine's settings.", key));
    // After the section's last non-blank line, or in a new section at the end.
    auto lastContent = lines_.end();
    for (auto it = lines_.begin(); it != lines_.end(); ++it)
        if (it->section == section && !trim(it->raw).empty())
            lastContent = it;
    Line line{section, key, key + "=" + value};
    if (lastContent == lines_.end()) {
        if (!lines_.empty() && !trim(lines_.back().raw).empty())
            lines_.push_back({lines_.back().section, "", ""});
        lines_.push_back({section, "", "[" + section + "]"});
        lines_.push_back(line);
        return;
    }
    lines_.insert(std::next(lastContent), line);
}

void NspawnSettingsEditor::setBind(const BindMount& bind)
{
    removeBind(bind.destination);
    append("Files", bind.readOnly ? "BindReadOnly" : "Bind", bindSpec(bind));
}

bool NspawnSettingsEditor::removeBind(const std::string& destination)
{
    auto before = lines_.size();
    std::erase_if(lines_, [&](const Line& line) {
        if (line.section != "Files" || (line.key != "Bind" && line.key != "BindReadOnly"))
            return false;
        auto value = trim(std::string_view(line.raw).substr(line.raw.find('=') + 1));
        return !value.empty() && parseBind(value, false).destination == destination;
    });
    return lines_.size() != before;
}

void NspawnSettingsEditor::setNetwork(const NetworkSettings& network)
{
    removeKeys("Network", {"VirtualEthernet", "Bridge", "Private"});
    if (network.mode == "bridge")
        append("Network", "Bridge", network.bridge);
    else // host says so too, or machinectl's --network-veth would give the container a veth
        append("Network", "VirtualEthernet", network.mode == "veth" ? "yes" : "no");
}

void NspawnSettingsEditor::setLimits(const ResourceLimits& limits)
{
    std::erase_if(lines_, [](const Line& line) { return line.section == limitsSection; });
    for (const auto& key : resourceLimitKeys)
        if (std::uint64_t value = limits.*key.value)
            append(limitsSection, key.name, std::to_string(value));
}

bool NspawnSettingsEditor::states(const std::string& section, const std::vector<std::string>& keys) const
{
    return std::any_of(lines_.begin(), lines_.end(), [&](const Line& line) {
        return line.section == section && std::find(keys.begin(), keys.end(), line.key) != keys.end() &&
               !trim(std::string_view(line.raw).substr(line.raw.find('=') + 1)).empty();
    });
}

void NspawnSettingsEditor::addStartSettings()
{
    if (!states("Exec", {"PrivateUsers"}))
        append("Exec", "PrivateUsers", "no");
    if (!states("Exec", {"NotifyReady"}))
        append("Exec", "NotifyReady", "yes");
    if (!states("Exec", {"LinkJournal"}))
        append("Exec", "LinkJournal", "auto");
    // Any of these makes nspawn take the whole network from the file, in place of --network-veth.
    if (!states("Network", {"Private", "VirtualEthernet", "VirtualEthernetExtra", "Interface", "MACVLAN", "IPVLAN",
                            "Bridge", "Zone"}))
        append("Network", "VirtualEthernet", "no");
}

std::string NspawnSettingsEditor::text() const
{
    std::string out;
    for (const auto& line : lines_)
        out += line.raw + "\n";
    return out;
}

} // namespace bred
