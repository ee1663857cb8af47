#include "metagrad/core/allocator.hpp"

#include <malloc.h>

#include <atomic>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "check.hpp"
#include "profiling.hpp"
#include "tensor_impl.hpp"

namespace mg {
namespace {

constexpr std::size_t kAlignment = 64;  // a cache line; a full AVX-512 register

// Rounds a request to its size class: multiples of 64 bytes up to 4 KiB, then
// four classes per power of two (at most 25% slack), so blocks of one class
// serve every request that rounds to it.
std::size_t size_class(std::size_t nbytes) {
  if (nbytes <= 4096) return (nbytes + 63) & ~std::size_t{63};
  std::size_t power = 4096;
  while (power * 2 < nbytes) power *= 2;
  const std::size_t step = power / 4;
  return (nbytes + step - 1) / step * step;
}

class CachingAllocator {
 public:
  CachingAllocator() {
    // glibc would otherwise hand the top of its heap back to the OS whenever
    // 128 KiB are free, and fault the pages in again on the next growth.
    mallopt(M_TRIM_THRESHOLD, 256 << 20);
    mallopt(M_TOP_PAD, 16 << 20);
  }

  void* allocate(std::size_t nbytes) {
    const std::size_t rounded = size_class(nbytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto& blocks = free_[rounded];
      if (!blocks.empty()) {
        void* block = blocks.back();
        blocks.pop_back();
        stats_.bytes_cached -= rounded;
        stats_.bytes_in_use += rounded;
        return block;
      }
    }
    void* block = std::aligned_alloc(kAlignment, rounded);
    if (block == nullptr) {
      empty();
      block = std::aligned_alloc(kAlignment, rounded);
    }
    MG_CHECK(block != nullptr, "out of memory: could not allocate a tensor of {} bytes", nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    stats_.bytes_in_use += rounded;
    ++stats_.system_allocations;
    return block;
  }

  void release(void* block, std::size_t nbytes) {
    const std::size_t rounded = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_[rounded].push_back(block);
    stats_.bytes_in_use -= rounded;
    stats_.bytes_cached += rounded;
  }

  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_) {
      for (void* block : blocks) std::free(block);
      stats_.bytes_cached -= size * blocks.size();
      blocks.clear();
    }
  }

  AllocatorStats stats() {
    std::lock_guard<std::mutex> lock(mutex_);
    return stats_;
  }

 private:
  std::mutex mutex_;
  std::unordered_map<std::size_t, std::vector<void*>> free_;
  AllocatorStats stats_;
};

CachingAllocator& allocator() {
  // Never destroyed: tensors in static storage may outlive it otherwise.
  static auto* instance = new CachingAllocator();
  return *instance;
}

}  // namespace

namespace {
std::atomic<std::uint64_t> next_storage_id{1};

void* allocate(std::size_t nbytes) {
  const profiler::Scope scope(profiler::Kind::Allocation);
  return nbytes == 0 ? nullptr : allocator().allocate(nbytes);
}
}  // namespace

Storage::Storage(std::size_t nbytes) : data_(allocate(nbytes)), nbytes_(nbytes), id_(next_storage_id++) {}

Storage::~Storage() {
  const profiler::Scope scope(profiler::Kind::Allocation);
  if (data_ != nullptr) allocator().release(data_, nbytes_);
}

AllocatorStats allocator_stats() { return allocator().stats(); }
void empty_cache() { allocator().empty(); }

}  // namespace mg
