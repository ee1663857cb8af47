#pragma once
// Element (n, c, h, w) of a 4-D tensor of any strides.
#include <cstdint>

#include "core/tensor_impl.hpp"

namespace mg::kernels {

template <class T>
struct View4 {
  T* data;
  std::int64_t s0, s1, s2, s3;
  explicit View4(const Tensor& t)
      : data(t.data_ptr<T>()), s0(t.strides()[0]), s1(t.strides()[1]), s2(t.strides()[2]), s3(t.strides()[3]) {}
  T& operator()(std::int64_t a, std::int64_t b, std::int64_t c, std::int64_t d) const {
    return data[a * s0 + b * s1 + c * s2 + d * s3];
  }
};

}  // namespace mg::kernels
