// The pool behind run_concurrently: helper threads that live as long as the
// process, so a run's thread keeps its allocator cache and its OpenMP team
// from one call to the next (a fresh thread faults its memory in again:
// PERFORMANCE.md, trap 2). Helpers are plain threads, not OpenMP ones: each
// is the root of its own OpenMP team, sized by threads_per_run, so that a
// run given several threads spreads its ops (ours, oneDNN's, OpenBLAS's)
// over them, and a run given one executes them inline.
#include "metagrad/core/concurrent.hpp"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <mutex>
#include <thread>

#include "check.hpp"
#include "denormal_sync.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/threading.hpp"

namespace mg {
namespace {

thread_local bool in_job = false;

// One call's jobs, shared by its participants.
struct Batch {
  const std::function<void(std::int64_t)>* job;
  std::int64_t count;
  int participants, threads_each;
  bool grad_enabled;
  std::atomic<std::int64_t> next;          // the next job nobody has started, after each participant's first
  std::atomic<bool> failed{false};         // no job starts after one has thrown
  std::vector<std::exception_ptr> errors;  // by job index, each written by the job's thread alone
  int helpers_running = 0;                 // guarded by the pool's mutex
};

// Participant `p` runs job p, then takes undone jobs until none is left.
void participate(Batch& batch, int p) {
  const bool was_in_job = in_job;
  const int threads_before = omp_get_max_threads();
  in_job = true;
  omp_set_num_threads(batch.threads_each);  // this thread's own setting: its ops' team
  sync_flush_denormal();
  {
    GradModeGuard grad(batch.grad_enabled);
    for (std::int64_t i = p; i < batch.count && !batch.failed; i = batch.next.fetch_add(1)) {
      try {
        (*batch.job)(i);
      } catch (...) {
        batch.errors[static_cast<std::size_t>(i)] = std::current_exception();
        batch.failed = true;
      }
    }
  }
  omp_set_num_threads(threads_before);
  in_job = was_in_job;
}

class Pool {
 public:
  void run(Batch& batch) {
    std::lock_guard<std::mutex> one_batch_at_a_time(run_mutex_);
    const int helpers = batch.participants - 1;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (; started_ < helpers; ++started_)  // detached: they wait for work until the process ends
        std::thread([this, index = started_ + 1, seen = generation_] { helper(index, seen); }).detach();
      batch.helpers_running = helpers;
      batch_ = &batch;
      ++generation_;
    }
    wake_.notify_all();
    participate(batch, 0);
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [&] { return batch.helpers_running == 0; });
    batch_ = nullptr;
  }

 private:
  // Helper `index` (1, 2, ...) joins every batch with more participants
  // than its index; the caller waits for it, so it never misses one.
  void helper(int index, std::uint64_t seen) {
    for (;;) {
      Batch* batch = nullptr;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (batch_ == nullptr || index >= batch_->participants) continue;
        batch = batch_;
      }
      participate(*batch, index);
      std::lock_guard<std::mutex> lock(mutex_);
      if (--batch->helpers_running == 0) done_.notify_all();
    }
  }

  std::mutex run_mutex_, mutex_;
  std::condition_variable wake_, done_;
  int started_ = 0;  // helper threads
  std::uint64_t generation_ = 0;
  Batch* batch_ = nullptr;
};

Pool& pool() {
  static Pool* instance = new Pool;  // never destroyed: its threads may still wait when statics go
  return *instance;
}

}  // namespace

int threads_per_run(std::int64_t count, int threads) {
  MG_CHECK(count >= 1 && threads >= 1, "threads_per_run: {} runs on {} threads", count, threads);
  return std::max(1, threads / static_cast<int>(std::min<std::int64_t>(count, threads)));
}

bool in_concurrent_run() { return in_job; }

void run_concurrently(std::int64_t count, const std::function<void(std::int64_t)>& job) {
  MG_CHECK(count >= 0, "run_concurrently: {} jobs", count);
  if (count == 0) return;
  const int threads = get_num_threads();
  Batch batch;
  batch.job = &job;
  batch.count = count;
  batch.participants = in_job || omp_in_parallel() ? 1 : static_cast<int>(std::min<std::int64_t>(count, threads));
  batch.threads_each = threads_per_run(count, threads);
  batch.grad_enabled = autograd::GradMode::is_enabled();
  batch.next = batch.participants;
  if (batch.participants > 1) {
    batch.errors.resize(static_cast<std::size_t>(count));
    pool().run(batch);
    for (const auto& error : batch.errors)
      if (error) std::rethrow_exception(error);
  } else {  // one after another, as the caller's own code (a single job may run jobs of its own)
    for (std::int64_t i = 0; i < count; ++i) job(i);
  }
}

}  // namespace mg
