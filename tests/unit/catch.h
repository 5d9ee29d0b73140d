// Catch2 for our unit tests, whichever generation meson found (2.13+ or 3.x;
// BRED_CATCH2_MAJOR comes from tests/meson.build). The string matchers go by
// Catch2 3's names, which Catch2 2 has under others.
#pragma once

#ifndef BRED_CATCH2_MAJOR
#error "BRED_CATCH2_MAJOR is set by tests/meson.build from the Catch2 version found"
#endif

#if BRED_CATCH2_MAJOR >= 3
#include <catch2/catch_all.hpp>

using Catch::Matchers::ContainsSubstring;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
#else
#include <catch2/catch.hpp>

#include <string>

inline Catch::Matchers::StdString::ContainsMatcher ContainsSubstring(const std::string& text)
{
    return Catch::Matchers::Contains(text);
}
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;
#endif
