#include "onednn.hpp"

#include "metagrad/core/tensor.hpp"

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

dnnl::primitive_attr caller_scratchpad(dnnl::primitive_attr attr) {
  attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);
  return attr;
}

void execute(const dnnl::primitive& primitive, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory> args) {
  Tensor buffer;
  if (const auto bytes = static_cast<std::int64_t>(scratchpad.get_size()); bytes > 0) {
    buffer = Tensor::empty({(bytes + 3) / 4}, DType::Float32);
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(scratchpad, onednn_engine(), buffer.data_ptr<float>()));
  }
  primitive.execute(onednn_stream(), args);
  onednn_stream().wait();
}

}  // namespace mg::kernels
