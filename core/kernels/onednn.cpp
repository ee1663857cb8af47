#include "onednn.hpp"

namespace mg::kernels {

dnnl::engine& onednn_engine() {
  static dnnl::engine instance(dnnl::engine::kind::cpu, 0);
  return instance;
}

std::mutex& onednn_cache_mutex() {
  static std::mutex instance;
  return instance;
}

dnnl::stream& onednn_stream() {
  thread_local dnnl::stream instance(onednn_engine());
  return instance;
}

}  // namespace mg::kernels
