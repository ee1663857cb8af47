#pragma once
// The oneDNN engine every primitive of the library runs on, a stream per
// thread (threads that step tensors in parallel each execute their own),
// and the caches that make each primitive once per configuration.
#include <dnnl.hpp>
#include <map>
#include <mutex>

namespace mg::kernels {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

// The one lock of the primitive caches.
std::mutex& onednn_cache_mutex();

// The entry of `cache` for `key`, made by `make()` the first time.
template <class Key, class Entry, class Make>
const Entry& cached(std::map<Key, Entry>& cache, const Key& key, const Make& make) {
  std::lock_guard<std::mutex> lock(onednn_cache_mutex());
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, make()).first;
  return it->second;
}

}  // namespace mg::kernels
