// load_learned: what meta-train wrote, told apart by its shape: an mlp_lopt
// weight list, an LSTM weight list (one file per net), or learned
// hyperparameters.
#include <filesystem>
#include <map>

#include "core/check.hpp"
#include "json_file.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/learned/mlp_lopt.hpp"
#include "metagrad/optim/registry.hpp"

namespace mg::optim::learned {
namespace {

std::string lstm_spec(const std::string& weights, const LstmConfig& c) {
  return fmt::format("lstm(weights={}, preprocess={}, p={}, scale={}, hidden={})", weights, to_string(c.preprocess),
                     c.p, c.scale, c.hidden);
}

// The LSTM with one weight file per net, as meta-train writes them:
// consecutive parameters of one net share a group.
OptimizerFactory several_lstm_nets(const std::string& path, const LstmTaskSettings& settings) {
  const auto& nets = settings.nets;
  const std::string spec = lstm_spec(net_weights_file(path, nets.front(), nets.size()), settings.config);
  return [=](const NamedParameters& params) {
    std::vector<GroupSpec> groups;
    std::string last;
    for (const auto& [name, p] : params) {
      const std::string net = settings.net_of(name);
      if (groups.empty() || net != last)
        groups.push_back({{}, {{"weights", net_weights_file(path, net, nets.size())}, {"net", net}}});
      groups.back().params.emplace_back(name, p);
      last = net;
    }
    return make(spec, groups);
  };
}

OptimizerFactory learned_hyperparameters(const std::string& path, const nlohmann::json& file) {
  MG_CHECK(file.is_object() && file.contains("spec") && file["spec"].is_string() && file.contains("lr") &&
               file["lr"].is_object(),
           "learned optimizer '{}' is neither an LSTM weight list nor {{\"spec\": ..., \"lr\": {{...}}}}", path);
  const std::string spec = file["spec"];
  std::map<std::string, double> lrs;
  for (const auto& [name, lr] : file["lr"].items()) {
    MG_CHECK(lr.is_number() && lr.get<double>() > 0, "learned optimizer '{}': lr of '{}' is not a positive number",
             path, name);
    lrs[name] = lr.get<double>();
  }
  return [spec, lrs, path](const NamedParameters& params) {
    std::vector<GroupSpec> groups;
    for (const auto& [name, p] : params) {
      auto it = lrs.find(name);
      MG_CHECK(it != lrs.end(), "learned optimizer '{}' has no lr for parameter '{}'", path, name);
      groups.push_back({{{name, p}}, {{"lr", fmt::format("{:.17g}", it->second)}}});
    }
    return make(spec, groups);
  };
}

// mlp_lopt and general have one net whatever the task; their lists have
// 1762 and 1763 numbers, no LSTM's length. Empty for other files.
std::string one_net_spec(const std::string& path, const nlohmann::json& file, const LstmTaskSettings& settings,
                         std::int64_t horizon) {
  if (!file.is_array()) return {};
  const auto size = static_cast<std::int64_t>(file.size());
  if (size == MlpLoptConfig::parameter_count()) return fmt::format("mlp_lopt(weights={})", path);
  if (size == GeneralConfig::parameter_count()) return fmt::format("general(weights={}, horizon={})", path, horizon);
  return settings.nets.size() > 1 ? std::string() : lstm_spec(path, settings.config);
}

}  // namespace

OptimizerFactory load_learned(const std::string& path, const LstmTaskSettings& settings, std::int64_t horizon) {
  const nlohmann::json file = std::filesystem::exists(path) || settings.nets.size() <= 1
                                  ? read_json(path, "learned optimizer")
                                  : nlohmann::json();  // several nets: optimizer.<net>.json each
  const std::string spec = one_net_spec(path, file, settings, horizon);
  if (!spec.empty()) return [spec](const NamedParameters& params) { return make(spec, params); };
  if (settings.nets.size() > 1) return several_lstm_nets(path, settings);
  return learned_hyperparameters(path, file);
}

std::string learned_spec(const std::string& path, const LstmTaskSettings& settings, std::int64_t horizon) {
  const std::string spec = one_net_spec(path, read_json(path, "learned optimizer"), settings, horizon);
  MG_CHECK(!spec.empty(), "learned optimizer '{}' is not one weight list (mlp_lopt, general or a one-net lstm)", path);
  return spec;
}

OptimizerFactory load_learned(const std::string& path, const Task& task) {
  return load_learned(path, lstm_settings(task.name()), task.steps);
}

}  // namespace mg::optim::learned
