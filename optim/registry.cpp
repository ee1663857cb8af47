#include "metagrad/optim/registry.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

#include "core/check.hpp"

namespace mg::optim {
namespace {

std::map<std::string, OptimizerInfo>& registry() {
  static std::map<std::string, OptimizerInfo> instance;
  return instance;
}

std::string names() {
  std::string out;
  for (const auto& [name, entry] : registry()) out += (out.empty() ? "" : ", ") + name;
  return out;
}

}  // namespace

const Schema& common_keys() {
  static const Schema keys = {
      {"wd_exclude", Key::Kind::Words, Value(std::string("none")), {}},
      {"clip_norm", Key::Kind::Number, Value(0.0), at_least(0)},
      {"clip_value", Key::Kind::Number, Value(0.0), at_least(0)},
  };
  return keys;
}

bool register_optimizer(OptimizerInfo entry) {
  for (const auto& key : common_keys()) entry.schema.push_back(key);
  const std::string name = entry.name;
  registry().emplace(name, std::move(entry));
  return true;
}

std::vector<std::string> available() {
  std::vector<std::string> out;
  for (const auto& [name, entry] : registry()) out.push_back(name);
  return out;
}

const OptimizerInfo& info(const std::string& name) {
  auto it = registry().find(name);
  MG_CHECK(it != registry().end(), "unknown optimizer '{}'; available: {}", name, names());
  return it->second;
}

std::unique_ptr<Optimizer> make(const std::string& spec, const std::vector<GroupSpec>& groups) {
  const ParsedSpec parsed = parse_spec(spec);
  const OptimizerInfo& entry = info(parsed.name);
  const std::string what = "optimizer " + parsed.name;
  MG_CHECK(!groups.empty(), "{}: no parameter groups given", what);
  std::vector<ParamGroup> resolved;
  std::set<std::string> seen;
  for (const auto& group : groups) {
    for (const auto& [name, p] : group.params) {
      MG_CHECK(seen.insert(name).second, "{}: parameter '{}' appears twice", what, name);
      MG_CHECK(p.defined() && is_floating(p.dtype()), "{}: parameter '{}' must be a floating tensor", what, name);
    }
    auto arguments = parsed.arguments;
    for (const auto& [key, value] : group.overrides) {
      auto it = std::find_if(arguments.begin(), arguments.end(), [&](const auto& a) { return a.first == key; });
      if (it == arguments.end())
        arguments.emplace_back(key, value);
      else
        it->second = value;
    }
    resolved.push_back({group.params, resolve(entry.schema, arguments, what)});
  }
  return entry.make(std::move(resolved));
}

std::string with_horizon(const std::string& spec, std::int64_t steps) {
  const ParsedSpec parsed = parse_spec(spec);
  const Schema& schema = info(parsed.name).schema;
  const bool takes_horizon =
      std::any_of(schema.begin(), schema.end(), [](const Key& k) { return k.name == "horizon"; });
  const bool given = std::any_of(parsed.arguments.begin(), parsed.arguments.end(),
                                 [](const auto& argument) { return argument.first == "horizon"; });
  if (!takes_horizon || given) return spec;
  std::string out = parsed.name + "(";
  for (const auto& [key, value] : parsed.arguments) out += key + "=" + value + ", ";
  return out + "horizon=" + std::to_string(steps) + ")";
}

std::unique_ptr<Optimizer> make(const std::string& spec, const NamedParameters& params) {
  return make(spec, std::vector<GroupSpec>{{params, {}}});
}

}  // namespace mg::optim

namespace mg::optim {

void set_hyperparameter(Optimizer& optimizer, std::size_t group, const std::string& key, double value) {
  auto& groups = optimizer.param_groups();
  MG_CHECK(group < groups.size(), "{}: no parameter group {} (it has {})", optimizer.name(), group, groups.size());
  const Schema& schema = info(optimizer.name()).schema;
  const auto entry = std::find_if(schema.begin(), schema.end(), [&](const Key& k) { return k.name == key; });
  MG_CHECK(entry != schema.end(), "{}: unknown hyperparameter '{}' (expected one of: {})", optimizer.name(), key,
           describe_keys(schema));
  MG_CHECK(entry->kind == Key::Kind::Number || entry->kind == Key::Kind::Integer,
           "{}: hyperparameter '{}' is not a number and is fixed when the optimizer is made", optimizer.name(), key);
  MG_CHECK(std::isfinite(value) && (entry->kind == Key::Kind::Number || value == std::round(value)),
           "{}: hyperparameter '{}' = {} is not a finite {}", optimizer.name(), key, value,
           entry->kind == Key::Kind::Number ? "number" : "integer");
  if (entry->check) {
    const std::string expected = entry->check(Value(value));
    MG_CHECK(expected.empty(), "{}: hyperparameter '{}' = {} is out of range (expected {})", optimizer.name(), key,
             value, expected);
  }
  groups[group].hyper[key] = value;
}

}  // namespace mg::optim
