#pragma once
// The independent runs of a reproduction (one optimizer, learning rate and
// seed each), kept as JSON files under DIR/runs once finished. A command
// stopped with Ctrl-C and started again reads back what is done and goes on
// with the run it stopped in; progress lines count runs against the plan.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>

namespace mg::optim::experiments {

class RunStore {
 public:
  RunStore(std::string dir, std::string label, bool progress, const std::atomic<bool>& stop);

  // The stored result of run `key`, or `compute()`'s, stored before it is
  // returned. Throws mg::Interrupted when a stop was requested. Under
  // mpirun rank 0 computes it and every rank gets the result: `compute`
  // must not use collectives. A run that continues the work of an earlier
  // invocation (a meta-training resumed from its checkpoint) puts the wall
  // clock of all of it in its result as "wall_s", and the store records
  // that as its time rather than the last stint's.
  nlohmann::json run(const std::string& key, const std::function<nlohmann::json()>& compute);
  // Independent runs at once; under mpirun they are spread over the ranks
  // (each rank stores the runs it computes) and every rank gets every result.
  std::vector<nlohmann::json> run_all(const std::vector<std::string>& keys,
                                      const std::function<nlohmann::json(std::size_t)>& compute);

  // Adds `runs` to the number the progress lines count towards.
  void plan(std::int64_t runs) { planned_ += runs; }
  const std::atomic<bool>& stop() const { return stop_; }
  // Runs computed (not read back) in this invocation.
  std::int64_t computed() const { return computed_; }
  // Runs asked for, and the seconds they took to compute (in this or an
  // earlier, interrupted invocation).
  std::int64_t runs() const { return done_; }
  double run_seconds() const { return run_seconds_; }

 private:
  std::string path_of(const std::string& key) const;
  // {"result", "seconds", "computed"}: read back, or computed and stored here.
  nlohmann::json record(const std::string& key, const std::function<nlohmann::json()>& compute);
  // Adds to the tallies and prints the progress line; returns the result.
  // Thread-safe: run_all's runs finish on several threads.
  nlohmann::json count(const nlohmann::json& record);

  std::string dir_, label_;
  bool progress_;
  const std::atomic<bool>& stop_;
  std::int64_t planned_ = 0, done_ = 0, computed_ = 0;
  double compute_seconds_ = 0, run_seconds_ = 0;
  std::mutex tally_mutex_;
};

}  // namespace mg::optim::experiments
