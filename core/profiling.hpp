#pragma once
// What the library's own profiler scopes need (metagrad/core/profiler.hpp).
#include "metagrad/core/profiler.hpp"
#include "tensor_impl.hpp"

namespace mg::profiler {

// Bytes the tensors occupy (undefined ones count nothing).
template <class... T>
double bytes_of(const T&... tensors) {
  return (0.0 + ... +
          (tensors.defined() ? static_cast<double>(tensors.numel()) * static_cast<double>(element_size(tensors.dtype()))
                             : 0.0));
}

}  // namespace mg::profiler
