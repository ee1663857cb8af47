#pragma once
// Independent runs (seeds, tuning grids, test problems, the problems of a
// meta-batch, ES particles) on the process's cores. A run's own ops are too
// small to share among many cores (a step of a 784-20-10 MLP), but runs are
// independent, so K of them on K cores take about the time of one.
//
// Each run is a job on one thread, or on a few when there are fewer runs
// than cores: `threads_per_run` threads for its ops (our loops, oneDNN and
// OpenBLAS alike), so the cores are never oversubscribed. Ops give the same
// bits on any thread count, so every run's result is the one it has when
// run alone: the results never depend on how many cores there are.
#include <cstdint>
#include <functional>
#include <vector>

namespace mg {

// Runs job(0), ..., job(count - 1) concurrently on get_num_threads() cores
// and returns when all have finished. Job i starts on participant i first
// (the calling thread is participant 0), then each takes the next undone
// job, so equal jobs stay on the same threads from one call to the next.
// Grad mode is the caller's in every job. After a job throws no other job
// starts, those running finish, and the exception of the lowest job index
// is rethrown (the first one, when the jobs run one after another).
// Called from inside a job (or an OpenMP parallel region), it runs the jobs
// one after another on the calling thread.
void run_concurrently(std::int64_t count, const std::function<void(std::int64_t)>& job);

// The threads each of `count` concurrent runs gets on `threads` cores: all
// of them for one run, one each when there are at least as many runs.
int threads_per_run(std::int64_t count, int threads);

// Whether the calling thread is running a job of run_concurrently.
bool in_concurrent_run();

// results[i] = job(i), computed as run_concurrently does.
template <class Result, class Job>
std::vector<Result> map_concurrently(std::int64_t count, const Job& job) {
  std::vector<Result> results(static_cast<std::size_t>(count));
  run_concurrently(count, [&](std::int64_t i) { results[static_cast<std::size_t>(i)] = job(i); });
  return results;
}

}  // namespace mg
