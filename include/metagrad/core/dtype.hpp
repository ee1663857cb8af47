#pragma once
#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace mg {

// float32 is the default; float64 serves precise gradient checks; int64 holds
// labels and indices.
enum class DType : std::uint8_t { Float32, Float64, Int64 };

using Shape = std::vector<std::int64_t>;

std::size_t element_size(DType dtype);
std::string_view dtype_name(DType dtype);
bool is_floating(DType dtype);
// The dtype both operands of a binary op are computed in: int64 < float32 < float64.
DType promote(DType a, DType b);

template <class T>
constexpr DType dtype_of();
template <>
constexpr DType dtype_of<float>() {
  return DType::Float32;
}
template <>
constexpr DType dtype_of<double>() {
  return DType::Float64;
}
template <>
constexpr DType dtype_of<std::int64_t>() {
  return DType::Int64;
}

}  // namespace mg
