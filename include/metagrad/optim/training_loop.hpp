#pragma once
// What every resumable loop carries from one stint to the next (`train`,
// `meta_train`, the CNN example): its position, kept in its checkpoint
// beside the model's tensors as named numbers and words; its wall clock
// over every stint; and its metrics log, JSON lines with named fields, from
// which a resumed run drops what was logged after its checkpoint.
#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "metagrad/nn/module.hpp"

namespace mg::optim {

class LoopPosition {
 public:
  // A fresh run: nothing before it, its clock started now.
  LoopPosition();
  // A resumed run: the numbers and words among a checkpoint's tensors
  // (`file` names it in errors); every name in `required` must be there.
  // "wall" is the seconds of the stints before (0 in files without it).
  LoopPosition(const nn::NamedTensors& saved, const std::vector<std::string>& required, const std::string& file);

  bool resumed() const { return resumed_; }
  bool has(const std::string& name) const { return numbers_.count(name) > 0 || words_.count(name) > 0; }
  double number(const std::string& name) const;
  std::string word(const std::string& name) const;
  // Seconds of wall clock over every stint, this one until now.
  double wall() const;
  // ... of this stint alone.
  double stint_seconds() const;

  // The tensors a checkpoint keeps of `numbers` and `words`, with "wall".
  nn::NamedTensors tensors(const std::map<std::string, double>& numbers,
                           const std::map<std::string, std::string>& words = {}) const;

 private:
  bool resumed_ = false;
  std::map<std::string, double> numbers_;
  std::map<std::string, std::string> words_;
  double wall_before_ = 0;
  std::chrono::steady_clock::time_point started_;
};

// JSON lines, one record each. Resumed at `position` of `key` (open_log):
// the records after it are dropped, so a resumed run repeats none.
class MetricsLog {
 public:
  MetricsLog() = default;  // writes nothing
  MetricsLog(const std::string& path, bool resume, const std::string& key, double position);
  bool is_open() const { return out_.is_open(); }
  void write(const nlohmann::json& record);

 private:
  std::ofstream out_;
};

}  // namespace mg::optim
