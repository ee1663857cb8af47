#pragma once
// Learning-rate schedules, made from spec strings like the optimizers:
//   constant, step(step_size, gamma), multistep(milestones=30:60, gamma),
//   exponential(gamma), cosine(t_max, eta_min), warmup_cosine(warmup, t_max,
//   eta_min), plateau(mode, factor, patience, threshold, cooldown, min_lr).
// step() is called once per epoch (or per step, as the user decides) after
// the optimizer's step; plateau schedules take the monitored metric.
#include <memory>
#include <string>

#include "metagrad/nn/module.hpp"
#include "metagrad/optim/optimizer.hpp"

namespace mg::optim {

class Schedule {
 public:
  Schedule(std::string name, Values hyper, Optimizer& optimizer);
  virtual ~Schedule() = default;
  Schedule(const Schedule&) = delete;
  Schedule& operator=(const Schedule&) = delete;

  // Advances one period and sets the optimizer's lr. `metric` feeds plateau.
  void step(double metric = 0.0);
  double lr() const { return lr_; }
  std::int64_t count() const { return count_; }
  const std::string& name() const { return name_; }

  nn::NamedTensors state_dict() const;
  void load_state_dict(const nn::NamedTensors& state);

 protected:
  // The lr after `count` periods, given the base lr.
  virtual double lr_at(std::int64_t count, double metric) = 0;
  double number(const std::string& key) const;
  const Values& hyper() const { return hyper_; }
  double base_lr() const { return base_lr_; }
  // Extra state (plateau's best value and counters), as named numbers.
  virtual std::map<std::string, double> extra_state() const { return {}; }
  virtual void load_extra_state(const std::map<std::string, double>&) {}

 private:
  std::string name_;
  Values hyper_;
  Optimizer& optimizer_;
  double base_lr_, lr_;
  std::int64_t count_ = 0;
};

std::unique_ptr<Schedule> make_schedule(const std::string& spec, Optimizer& optimizer);
std::vector<std::string> available_schedules();

}  // namespace mg::optim
