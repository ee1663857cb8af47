#pragma once
// The oneDNN engine every primitive of the library runs on, and a stream per
// thread (threads that step tensors in parallel each execute their own).
#include <dnnl.hpp>

namespace mg::kernels {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

}  // namespace mg::kernels
