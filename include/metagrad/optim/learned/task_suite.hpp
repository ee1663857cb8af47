#pragma once
// Task suites: fixed, documented lists of tasks to evaluate optimizers on.
// "heldout" is issue 31's: every task lies outside the `mixed` family that
// `general` is meta-trained on (wider, deeper, GELU, other datasets, a
// ResNet, a character-level LSTM, batch sizes and horizons the family never
// draws), so that winning there is winning on problems never seen.
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "metagrad/optim/learned/task.hpp"

namespace mg::optim::learned {

struct SuiteOptions {
  std::string fashion_dir{};  // Fashion-MNIST's IDX files; empty: Debian's dataset-fashion-mnist
  std::string cifar_dir{};    // CIFAR-10's binary files; empty: the default data folder
  std::string text_dir = "/usr/share/common-licenses";
};

struct SuiteTask {
  std::string name, description;
  std::int64_t steps;  // the horizon the suite evaluates it at
};

const std::vector<SuiteTask>& suite_tasks(const std::string& suite);  // "heldout"
std::vector<std::string> available_suites();

// Task `name` of a suite (float32), its horizon set; reading its data waits
// until a problem is made.
std::unique_ptr<Task> make_suite_task(const std::string& suite, const std::string& name,
                                      const SuiteOptions& options = {});

}  // namespace mg::optim::learned
