#pragma once
// Tensor memory comes from a caching allocator: freed blocks are kept for
// reuse instead of going back to the OS, because a fresh page costs ~10 µs of
// page-fault time on our machines. In a steady training loop nothing is
// allocated from the system after the first iterations.
#include <cstddef>

namespace mg {

struct AllocatorStats {
  std::size_t bytes_in_use = 0;        // held by live tensors (rounded sizes)
  std::size_t bytes_cached = 0;        // free, kept for reuse
  std::size_t system_allocations = 0;  // blocks ever obtained from the system
};

AllocatorStats allocator_stats();
// Returns every cached block to the system (e.g. between unrelated jobs).
void empty_cache();

}  // namespace mg
