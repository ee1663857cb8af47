// The typed configurations' spec strings. Numbers are written in their
// shortest form that reads back to the same double, so a struct and its
// spec string build bit-identical optimizers.
#include "metagrad/optim/configs.hpp"

#include <fmt/format.h>

#include <variant>
#include <vector>

namespace mg::optim {
namespace {

using Argument = std::pair<const char*, std::variant<double, bool, std::string>>;

std::string spec_of(const char* name, std::vector<Argument> arguments, const CommonKeys& common) {
  arguments.insert(
      arguments.end(),
      {{"wd_exclude", common.wd_exclude}, {"clip_norm", common.clip_norm}, {"clip_value", common.clip_value}});
  std::string out = fmt::format("{}(", name);
  for (std::size_t i = 0; i < arguments.size(); ++i) {
    const auto& [key, value] = arguments[i];
    const std::string text = std::visit(
        [](const auto& v) -> std::string {
          if constexpr (std::is_same_v<std::decay_t<decltype(v)>, bool>)
            return v ? "true" : "false";
          else
            return fmt::format("{}", v);
        },
        value);
    out += fmt::format("{}{}={}", i == 0 ? "" : ", ", key, text);
  }
  return out + ")";
}

}  // namespace

std::string Sgd::spec() const {
  return spec_of("sgd",
                 {{"lr", lr},
                  {"momentum", momentum},
                  {"dampening", dampening},
                  {"weight_decay", weight_decay},
                  {"nesterov", nesterov},
                  {"maximize", maximize}},
                 common);
}

// Adam and AdamW take the same keys; only the name (and a default) differ.
template <class Config>
std::string adam_spec(const char* name, const Config& c) {
  return spec_of(name,
                 {{"lr", c.lr},
                  {"beta1", c.beta1},
                  {"beta2", c.beta2},
                  {"eps", c.eps},
                  {"weight_decay", c.weight_decay},
                  {"amsgrad", c.amsgrad},
                  {"maximize", c.maximize}},
                 c.common);
}

std::string Adam::spec() const { return adam_spec("adam", *this); }

std::string AdamW::spec() const { return adam_spec("adamw", *this); }

std::string NAdam::spec() const {
  return spec_of("nadam",
                 {{"lr", lr},
                  {"beta1", beta1},
                  {"beta2", beta2},
                  {"eps", eps},
                  {"weight_decay", weight_decay},
                  {"momentum_decay", momentum_decay},
                  {"decoupled_weight_decay", decoupled_weight_decay},
                  {"maximize", maximize}},
                 common);
}

std::string RmsProp::spec() const {
  return spec_of("rmsprop",
                 {{"lr", lr},
                  {"alpha", alpha},
                  {"eps", eps},
                  {"weight_decay", weight_decay},
                  {"momentum", momentum},
                  {"centered", centered},
                  {"maximize", maximize}},
                 common);
}

std::string Adagrad::spec() const {
  return spec_of("adagrad",
                 {{"lr", lr},
                  {"lr_decay", lr_decay},
                  {"weight_decay", weight_decay},
                  {"initial_accumulator_value", initial_accumulator_value},
                  {"eps", eps},
                  {"maximize", maximize}},
                 common);
}

}  // namespace mg::optim
