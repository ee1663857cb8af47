#pragma once
// The oneDNN engine every primitive of the library runs on, a stream per
// thread (threads that step tensors in parallel each execute their own),
// and the caches that make each primitive once per configuration.
#include <omp.h>

#include <dnnl.hpp>
#include <map>
#include <mutex>
#include <unordered_map>

namespace mg::kernels {

dnnl::engine& onednn_engine();
dnnl::stream& onednn_stream();

// Cached primitives take their scratchpad from the caller: oneDNN's own
// (library-managed) scratchpad is shared by every primitive and ties each to
// the thread that made it, while concurrent runs (run_concurrently) execute
// one primitive on several threads at once. `attr` with the scratchpad
// mode set to user.
dnnl::primitive_attr caller_scratchpad(dnnl::primitive_attr attr = {});

// Runs `primitive` with `args` and a scratchpad of `scratchpad`'s size of
// its own (from the caching allocator), and waits for it.
void execute(const dnnl::primitive& primitive, const dnnl::memory::desc& scratchpad,
             std::unordered_map<int, dnnl::memory> args);

// The one lock of the primitive caches.
std::mutex& onednn_cache_mutex();

// How many threads a primitive made now runs on: oneDNN splits its work
// and sizes its scratchpad for the thread count at creation, and runs
// inline inside a parallel region.
inline int primitive_threads() { return omp_in_parallel() ? 1 : omp_get_max_threads(); }

// A cache of primitives by configuration and thread count: a primitive made
// for 16 threads would start a team of 16 on a thread given one (a run of
// run_concurrently), and one made there would keep a 16-thread step on one.
template <class Key, class Entry>
using PrimitiveCache = std::map<std::pair<int, Key>, Entry>;

// The entry of `cache` for `key` at this thread count, made by `make()` the first time.
template <class Key, class Entry, class Make>
const Entry& cached(PrimitiveCache<Key, Entry>& cache, const Key& key, const Make& make) {
  std::lock_guard<std::mutex> lock(onednn_cache_mutex());
  const std::pair<int, Key> configuration{primitive_threads(), key};
  auto it = cache.find(configuration);
  if (it == cache.end()) it = cache.emplace(configuration, make()).first;
  return it->second;
}

}  // namespace mg::kernels
