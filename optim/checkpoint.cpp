// Training checkpoints: model, optimizer and schedule state in one file.
#include "metagrad/optim/checkpoint.hpp"

#include "core/check.hpp"
#include "metagrad/nn/serialize.hpp"

namespace mg::optim {

void save_checkpoint(const std::string& path, const nn::Module& model, const Optimizer& optimizer,
                     const Schedule* schedule, const nn::NamedTensors& extra) {
  nn::NamedTensors all;
  for (const auto& [key, t] : model.state_dict()) all.emplace_back("model." + key, t);
  for (const auto& [key, t] : optimizer.state_dict()) all.emplace_back(key, t);
  if (schedule)
    for (const auto& [key, t] : schedule->state_dict()) all.emplace_back(key, t);
  for (const auto& [key, t] : extra) all.emplace_back("extra." + key, t);
  nn::save_tensors(path, all);
}

nn::NamedTensors load_checkpoint(const std::string& path, nn::Module& model, Optimizer& optimizer, Schedule* schedule) {
  nn::NamedTensors model_state, optimizer_state, schedule_state, extra;
  for (const auto& [key, t] : nn::load_tensors(path)) {
    if (key.rfind("model.", 0) == 0)
      model_state.emplace_back(key.substr(6), t);
    else if (key.rfind("schedule.", 0) == 0)
      schedule_state.emplace_back(key, t);
    else if (key.rfind("extra.", 0) == 0)
      extra.emplace_back(key.substr(6), t);
    else
      optimizer_state.emplace_back(key, t);
  }
  MG_CHECK(!schedule || !schedule_state.empty(), "{}: the checkpoint has no schedule state", path);
  // Each part validates everything before it changes anything; when a later
  // part fails, the earlier ones are put back, so nothing changes at all.
  const auto snapshot = [](nn::NamedTensors tensors) {
    for (auto& [key, t] : tensors) t = t.detach().clone();  // not the live tensors
    return tensors;
  };
  const auto model_before = snapshot(model.state_dict());
  const auto optimizer_before = snapshot(optimizer.state_dict());
  try {
    try {
      model.load_state_dict(model_state);
      optimizer.load_state_dict(optimizer_state);
      if (schedule) schedule->load_state_dict(schedule_state);
    } catch (...) {
      model.load_state_dict(model_before);
      optimizer.load_state_dict(optimizer_before);
      throw;
    }
  } catch (const Error& e) {
    throw Error(fmt::format("{}: {}", path, e.what()));
  }
  return extra;
}

}  // namespace mg::optim
