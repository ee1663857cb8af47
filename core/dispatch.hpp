#pragma once
// Runs a generic body once per dtype: inside, `scalar_t` is the C++ type.
#include <cstdint>

#include "metagrad/core/dtype.hpp"

#define MG_DISPATCH_CASE(DTYPE, TYPE, ...) \
  case DTYPE: {                            \
    using scalar_t = TYPE;                 \
    __VA_ARGS__();                         \
    break;                                 \
  }

// float32, float64 and int64
#define MG_DISPATCH_ALL(dtype, ...)                                 \
  switch (dtype) {                                                  \
    MG_DISPATCH_CASE(::mg::DType::Float32, float, __VA_ARGS__)      \
    MG_DISPATCH_CASE(::mg::DType::Float64, double, __VA_ARGS__)     \
    MG_DISPATCH_CASE(::mg::DType::Int64, std::int64_t, __VA_ARGS__) \
  }

// float32 and float64; callers reject int64 before dispatching
#define MG_DISPATCH_FLOATING(dtype, ...)                        \
  switch (dtype) {                                              \
    MG_DISPATCH_CASE(::mg::DType::Float32, float, __VA_ARGS__)  \
    MG_DISPATCH_CASE(::mg::DType::Float64, double, __VA_ARGS__) \
    case ::mg::DType::Int64:                                    \
      break;                                                    \
  }
