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

// Freed blocks of one size class.
using FreeLists = std::unordered_map<std::size_t, std::vector<void*>>;

// A freed block of `size` from `lists`, or null.
void* pop(FreeLists& lists, std::size_t size) {
  auto it = lists.find(size);
  if (it == lists.end() || it->second.empty()) return nullptr;
  void* block = it->second.back();
  it->second.pop_back();
  return block;
}

// Small blocks freed by a thread wait in that thread's own cache for its
// next request of the same size: the many small tensors of optimizer steps
// run on parallel threads would otherwise queue for the shared lock. Each
// cache has a lock of its own, which only empty_cache() ever contends for.
// Bounded, so memory a thread no longer uses stays small; returned to the
// shared pool when the thread ends.
class ThreadCache {
 public:
  static constexpr std::size_t kLargestBlock = 64 << 10;
  static constexpr std::size_t kCapacity = 4 << 20;

  void* take(std::size_t rounded) {
    if (rounded > kLargestBlock) return nullptr;
    std::lock_guard<std::mutex> lock(mutex_);
    void* block = pop(free_, rounded);
    if (block != nullptr) bytes_ -= rounded;
    return block;
  }
  bool keep(void* block, std::size_t rounded) {
    if (rounded > kLargestBlock) return false;
    std::lock_guard<std::mutex> lock(mutex_);
    if (bytes_ + rounded > kCapacity) return false;
    free_[rounded].push_back(block);
    bytes_ += rounded;
    return true;
  }
  // Moves every block into `pool`.
  void drain_into(FreeLists& pool) {
    std::lock_guard<std::mutex> lock(mutex_);
    for (auto& [size, blocks] : free_) pool[size].insert(pool[size].end(), blocks.begin(), blocks.end());
    free_.clear();
    bytes_ = 0;
  }

 private:
  std::mutex mutex_;
  FreeLists free_;
  std::size_t bytes_ = 0;
};

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
    ThreadCache* cache = thread_cache();
    void* block = cache ? cache->take(rounded) : nullptr;
    if (block == nullptr) block = take_shared(rounded);
    if (block != nullptr) {
      bytes_cached_ -= rounded;
      bytes_in_use_ += rounded;
      return block;
    }
    block = std::aligned_alloc(kAlignment, rounded);
    if (block == nullptr) {
      empty();
      block = std::aligned_alloc(kAlignment, rounded);
    }
    MG_CHECK(block != nullptr, "out of memory: could not allocate a tensor of {} bytes", nbytes);
    bytes_in_use_ += rounded;
    ++system_allocations_;
    return block;
  }

  void release(void* block, std::size_t nbytes) {
    const std::size_t rounded = size_class(nbytes);
    bytes_in_use_ -= rounded;
    bytes_cached_ += rounded;
    ThreadCache* cache = thread_cache();
    if (cache && cache->keep(block, rounded)) return;
    std::lock_guard<std::mutex> lock(mutex_);
    free_[rounded].push_back(block);
  }

  // Every cached block, the threads' caches included, back to the system.
  void empty() {
    std::lock_guard<std::mutex> lock(mutex_);
    for (ThreadCache* cache : thread_caches_) cache->drain_into(free_);
    for (auto& [size, blocks] : free_) {
      for (void* block : blocks) std::free(block);
      bytes_cached_ -= size * blocks.size();
      blocks.clear();
    }
  }

  AllocatorStats stats() const { return {bytes_in_use_.load(), bytes_cached_.load(), system_allocations_.load()}; }

 private:
  // A thread's cache, registered with the allocator for as long as the thread lives.
  class Registered {
   public:
    explicit Registered(CachingAllocator& owner) : owner_(owner) {
      std::lock_guard<std::mutex> lock(owner_.mutex_);
      owner_.thread_caches_.push_back(&cache_);
    }
    ~Registered() {
      std::lock_guard<std::mutex> lock(owner_.mutex_);
      std::erase(owner_.thread_caches_, &cache_);
      cache_.drain_into(owner_.free_);
    }
    Registered(const Registered&) = delete;
    Registered& operator=(const Registered&) = delete;
    ThreadCache& cache() { return cache_; }

   private:
    CachingAllocator& owner_;
    ThreadCache cache_;
  };

  // Null once the thread's cache is gone: thread-local tensors destroyed
  // after it, at thread exit, go to the shared pool.
  ThreadCache* thread_cache() {
    thread_local bool gone = false;  // trivially destructible: readable to the very end
    if (gone) return nullptr;
    struct Owner {
      Registered registered;
      bool& gone;
      ~Owner() { gone = true; }
    };
    thread_local Owner owner{Registered(*this), gone};
    return &owner.registered.cache();
  }

  void* take_shared(std::size_t rounded) {
    std::lock_guard<std::mutex> lock(mutex_);
    return pop(free_, rounded);
  }

  std::mutex mutex_;
  FreeLists free_;
  std::vector<ThreadCache*> thread_caches_;
  std::atomic<std::size_t> bytes_in_use_{0}, bytes_cached_{0}, system_allocations_{0};
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

Storage::Storage(void* data, std::size_t nbytes, std::shared_ptr<void> owner)
    : data_(data), nbytes_(nbytes), id_(next_storage_id++), owner_(std::move(owner)) {}

Storage::~Storage() {
  if (owner_ != nullptr) return;  // borrowed: its owner frees it
  const profiler::Scope scope(profiler::Kind::Allocation);
  if (data_ != nullptr) allocator().release(data_, nbytes_);
}

AllocatorStats allocator_stats() { return allocator().stats(); }
void empty_cache() { allocator().empty(); }

}  // namespace mg
