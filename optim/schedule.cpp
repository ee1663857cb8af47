#include "metagrad/optim/schedule.hpp"

#include <cmath>
#include <functional>
#include <limits>
#include <map>

#include "core/check.hpp"

namespace mg::optim {
namespace {

constexpr double kPi = 3.14159265358979323846;

class Constant : public Schedule {
  using Schedule::Schedule;
  double lr_at(std::int64_t, double) override { return base_lr(); }
};

class StepDecay : public Schedule {
  using Schedule::Schedule;
  double lr_at(std::int64_t count, double) override {
    return base_lr() * std::pow(number("gamma"), std::floor(static_cast<double>(count) / number("step_size")));
  }
};

class MultiStep : public Schedule {
  using Schedule::Schedule;
  double lr_at(std::int64_t count, double) override {
    int passed = 0;
    for (double milestone : std::get<std::vector<double>>(hyper().at("milestones")))
      if (static_cast<double>(count) >= milestone) ++passed;
    return base_lr() * std::pow(number("gamma"), passed);
  }
};

class Exponential : public Schedule {
  using Schedule::Schedule;
  double lr_at(std::int64_t count, double) override {
    return base_lr() * std::pow(number("gamma"), static_cast<double>(count));
  }
};

// Cosine annealing from the base lr to eta_min over t_max periods (then flat).
double cosine(double base, double eta_min, double t, double t_max) {
  if (t >= t_max) return eta_min;
  return eta_min + (base - eta_min) * (1 + std::cos(kPi * t / t_max)) / 2;
}

class Cosine : public Schedule {
  using Schedule::Schedule;
  double lr_at(std::int64_t count, double) override {
    return cosine(base_lr(), number("eta_min"), static_cast<double>(count), number("t_max"));
  }
};

// Linear warm-up from base/warmup to the base lr, then cosine annealing.
class WarmupCosine : public Schedule {
  using Schedule::Schedule;
  double lr_at(std::int64_t count, double) override {
    const double warmup = number("warmup"), t = static_cast<double>(count);
    if (t < warmup) return base_lr() * (t + 1) / warmup;
    return cosine(base_lr(), number("eta_min"), t - warmup, number("t_max") - warmup);
  }
};

// Multiplies the lr by `factor` when the metric has not improved (by more
// than a relative threshold) for `patience` periods, as torch's ReduceLROnPlateau.
class Plateau : public Schedule {
 public:
  Plateau(std::string name, Values hyper, Optimizer& optimizer)
      : Schedule(std::move(name), std::move(hyper), optimizer), current_(base_lr()) {
    best_ = minimize() ? std::numeric_limits<double>::infinity() : -std::numeric_limits<double>::infinity();
  }

 private:
  bool minimize() const { return std::get<std::string>(hyper().at("mode")) == "min"; }

  double lr_at(std::int64_t, double metric) override {
    const double threshold = number("threshold");
    const bool better = minimize() ? metric < best_ * (1 - threshold) : metric > best_ * (1 + threshold);
    if (better) {
      best_ = metric;
      bad_ = 0;
    } else {
      ++bad_;
    }
    if (cooldown_ > 0) {
      --cooldown_;
      bad_ = 0;
    }
    if (bad_ > number("patience")) {
      current_ = std::max(current_ * number("factor"), number("min_lr"));
      cooldown_ = number("cooldown");
      bad_ = 0;
    }
    return current_;
  }

  std::map<std::string, double> extra_state() const override {
    return {{"best", best_}, {"bad", bad_}, {"cooldown", cooldown_}, {"current", current_}};
  }
  void load_extra_state(const std::map<std::string, double>& s) override {
    best_ = s.at("best");
    bad_ = s.at("bad");
    cooldown_ = s.at("cooldown");
    current_ = s.at("current");
  }

  double current_, best_ = 0, bad_ = 0, cooldown_ = 0;
};

struct ScheduleInfo {
  Schema schema;
  std::function<std::unique_ptr<Schedule>(std::string, Values, Optimizer&)> make;
};

template <class S>
ScheduleInfo entry(Schema schema) {
  return {std::move(schema), [](std::string name, Values hyper, Optimizer& optimizer) -> std::unique_ptr<Schedule> {
            return std::make_unique<S>(std::move(name), std::move(hyper), optimizer);
          }};
}

const std::map<std::string, ScheduleInfo>& schedules() {
  static const std::map<std::string, ScheduleInfo> table = {
      {"constant", entry<Constant>({})},
      {"step", entry<StepDecay>({{"step_size", Key::Kind::Integer, std::nullopt, greater_than(0)},
                                 {"gamma", Key::Kind::Number, Value(0.1), greater_than(0)}})},
      {"multistep", entry<MultiStep>({{"milestones", Key::Kind::Numbers, std::nullopt, {}},
                                      {"gamma", Key::Kind::Number, Value(0.1), greater_than(0)}})},
      {"exponential", entry<Exponential>({{"gamma", Key::Kind::Number, std::nullopt, greater_than(0)}})},
      {"cosine", entry<Cosine>({{"t_max", Key::Kind::Integer, std::nullopt, greater_than(0)},
                                {"eta_min", Key::Kind::Number, Value(0.0), at_least(0)}})},
      {"warmup_cosine", entry<WarmupCosine>({{"warmup", Key::Kind::Integer, std::nullopt, greater_than(0)},
                                             {"t_max", Key::Kind::Integer, std::nullopt, greater_than(0)},
                                             {"eta_min", Key::Kind::Number, Value(0.0), at_least(0)}})},
      {"plateau", entry<Plateau>({{"mode", Key::Kind::Word, Value(std::string("min")), one_of({"min", "max"})},
                                  {"factor", Key::Kind::Number, Value(0.1), in_unit_interval()},
                                  {"patience", Key::Kind::Integer, Value(10.0), at_least(0)},
                                  {"threshold", Key::Kind::Number, Value(1e-4), at_least(0)},
                                  {"cooldown", Key::Kind::Integer, Value(0.0), at_least(0)},
                                  {"min_lr", Key::Kind::Number, Value(0.0), at_least(0)}})},
  };
  return table;
}

Tensor scalar(double value) { return Tensor::from_vector(std::vector<double>{value}, {}); }

}  // namespace

namespace {

// Learned optimizers (lstm) have no lr: only the constant schedule fits them.
bool has_lr(const Optimizer& optimizer) { return optimizer.param_groups().front().hyper.count("lr") > 0; }

}  // namespace

Schedule::Schedule(std::string name, Values hyper, Optimizer& optimizer)
    : name_(std::move(name)),
      hyper_(std::move(hyper)),
      optimizer_(optimizer),
      base_lr_(has_lr(optimizer) ? optimizer.param_groups().front().number("lr") : 0.0),
      lr_(base_lr_) {
  MG_CHECK(has_lr(optimizer) || name_ == "constant",
           "schedule {}: optimizer {} has no learning rate to schedule (only 'constant' fits it)", name_,
           optimizer.name());
}

double Schedule::number(const std::string& key) const { return std::get<double>(hyper_.at(key)); }

void Schedule::step(double metric) {
  ++count_;
  if (!has_lr(optimizer_)) return;
  lr_ = lr_at(count_, metric);
  optimizer_.set_lr(lr_);
}

nn::NamedTensors Schedule::state_dict() const {
  nn::NamedTensors out{{"schedule.count", scalar(static_cast<double>(count_))},
                       {"schedule.lr", scalar(lr_)},
                       {"schedule.base_lr", scalar(base_lr_)}};
  for (const auto& [key, value] : extra_state()) out.emplace_back("schedule." + key, scalar(value));
  return out;
}

void Schedule::load_state_dict(const nn::NamedTensors& state) {
  std::map<std::string, double> values;
  for (const auto& [key, t] : state) {
    MG_CHECK(key.rfind("schedule.", 0) == 0 && t.numel() == 1, "schedule {}: unexpected state '{}'", name_, key);
    values[key.substr(9)] = t.item<double>();
  }
  for (const char* key : {"count", "lr", "base_lr"})
    MG_CHECK(values.count(key), "schedule {}: state has no '{}'", name_, key);
  std::map<std::string, double> extra;
  for (const auto& [key, value] : extra_state()) {
    MG_CHECK(values.count(key), "schedule {}: state has no '{}'", name_, key);
    extra[key] = values[key];
  }
  load_extra_state(extra);
  count_ = static_cast<std::int64_t>(values["count"]);
  lr_ = values["lr"];
  base_lr_ = values["base_lr"];
  if (has_lr(optimizer_)) optimizer_.set_lr(lr_);
}

std::unique_ptr<Schedule> make_schedule(const std::string& spec, Optimizer& optimizer) {
  const ParsedSpec parsed = parse_spec(spec);
  auto it = schedules().find(parsed.name);
  if (it == schedules().end()) {
    std::string valid;
    for (const auto& name : available_schedules()) valid += (valid.empty() ? "" : ", ") + name;
    throw Error(fmt::format("unknown schedule '{}'; available: {}", parsed.name, valid));
  }
  return it->second.make(parsed.name, resolve(it->second.schema, parsed.arguments, "schedule " + parsed.name),
                         optimizer);
}

std::vector<std::string> available_schedules() {
  std::vector<std::string> out;
  for (const auto& [name, info] : schedules()) out.push_back(name);
  return out;
}

}  // namespace mg::optim
