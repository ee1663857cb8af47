#pragma once
// MG_CHECK(condition, "format {}", args...) throws mg::Error with the
// formatted message when the condition is false.
#include <fmt/format.h>
#include <fmt/ranges.h>

#include "metagrad/core/error.hpp"

#define MG_CHECK(condition, ...)                                   \
  do {                                                             \
    if (!(condition)) throw ::mg::Error(fmt::format(__VA_ARGS__)); \
  } while (false)
