// rand / randn: element i of a draw depends only on the generator's seed and
// counter, so the numbers are the same for every thread count.
#include <cmath>
#include <numbers>

#include "check.hpp"
#include "dispatch.hpp"
#include "metagrad/core/generator.hpp"
#include "metagrad/core/tensor.hpp"
#include "parallel.hpp"
#include "philox.hpp"
#include "tensor_impl.hpp"

namespace mg {
namespace {

constexpr std::int64_t kRandomGrain = 8192;

// Uniform in [0, 1) from 24 (float) or 53 (double) random bits.
float uniform_float(std::uint32_t bits) { return static_cast<float>(bits >> 8) * 0x1.0p-24f; }
double uniform_double(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (std::uint64_t{hi} << 32 | lo) >> 11;
  return static_cast<double>(bits) * 0x1.0p-53;
}

// Fills `n` values; `per_block` values come from each 128-bit Philox block.
template <class T, int per_block, class Fill>
void fill_blocks(T* out, std::int64_t n, Generator& generator, const Fill& fill_block) {
  const std::int64_t blocks = (n + per_block - 1) / per_block;
  const std::uint64_t first = generator.advance(static_cast<std::uint64_t>(blocks));
  const std::uint64_t key = generator.seed();
  parallel_for(0, blocks, kRandomGrain / per_block, [&](std::int64_t lo, std::int64_t hi) {
    for (std::int64_t b = lo; b < hi; ++b) {
      T values[per_block];
      fill_block(philox4x32(first + static_cast<std::uint64_t>(b), key), values);
      const std::int64_t count = std::min<std::int64_t>(per_block, n - b * per_block);
      for (std::int64_t i = 0; i < count; ++i) out[b * per_block + i] = values[i];
    }
  });
}

// Box-Muller: two uniforms in, two standard normals out.
template <class T>
void box_muller(T u1, T u2, T* out) {
  const T radius = std::sqrt(T(-2) * std::log(T(1) - u1));  // 1 - u1 is in (0, 1]
  const T angle = T(2) * std::numbers::pi_v<T> * u2;
  out[0] = radius * std::cos(angle);
  out[1] = radius * std::sin(angle);
}

void check_floating(DType dtype, const char* op) {
  if (!is_floating(dtype)) throw Error(std::string(op) + ": expected a floating dtype (float32 or float64), got int64");
}

}  // namespace

Tensor rand(const Shape& shape, Generator& generator, DType dtype) {
  check_floating(dtype, "rand");
  Tensor t = Tensor::empty(shape, dtype);
  if (dtype == DType::Float32) {
    fill_blocks<float, 4>(t.data_ptr<float>(), t.numel(), generator, [](const auto& r, float* v) {
      for (int i = 0; i < 4; ++i) v[i] = uniform_float(r[i]);
    });
  } else {
    fill_blocks<double, 2>(t.data_ptr<double>(), t.numel(), generator, [](const auto& r, double* v) {
      v[0] = uniform_double(r[0], r[1]);
      v[1] = uniform_double(r[2], r[3]);
    });
  }
  return t;
}

Tensor randn(const Shape& shape, Generator& generator, DType dtype) {
  check_floating(dtype, "randn");
  Tensor t = Tensor::empty(shape, dtype);
  if (dtype == DType::Float32) {
    fill_blocks<float, 4>(t.data_ptr<float>(), t.numel(), generator, [](const auto& r, float* v) {
      box_muller(uniform_float(r[0]), uniform_float(r[1]), v);
      box_muller(uniform_float(r[2]), uniform_float(r[3]), v + 2);
    });
  } else {
    fill_blocks<double, 2>(t.data_ptr<double>(), t.numel(), generator, [](const auto& r, double* v) {
      box_muller(uniform_double(r[0], r[1]), uniform_double(r[2], r[3]), v);
    });
  }
  return t;
}

Tensor rand(const Shape& shape, DType dtype) { return rand(shape, default_generator(), dtype); }
Tensor randn(const Shape& shape, DType dtype) { return randn(shape, default_generator(), dtype); }
Tensor rand_like(const Tensor& t, Generator& generator) { return rand(t.shape(), generator, t.dtype()); }
Tensor randn_like(const Tensor& t, Generator& generator) { return randn(t.shape(), generator, t.dtype()); }

}  // namespace mg
