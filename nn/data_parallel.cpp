#include "metagrad/nn/data_parallel.hpp"

#include "metagrad/core/ops.hpp"
#include "metagrad/nn/layers.hpp"

namespace mg::nn {

void synchronize_batch_norm(Module& model, bool synchronized) {
  model.apply([synchronized](Module& m) {
    if (auto* norm = dynamic_cast<BatchNorm2d*>(&m)) norm->synchronized = synchronized;
  });
}

void broadcast_state(Module& model) {
  std::vector<Tensor> state;
  for (const auto& [name, t] : model.state_dict()) state.push_back(t);
  distributed::broadcast_(state);
}

namespace {

// Prepares the model before the reducer hooks its parameters.
std::vector<Tensor> prepared_parameters(Module& model) {
  if (distributed::world_size() > 1) {
    broadcast_state(model);
    synchronize_batch_norm(model);
  }
  return model.parameters();
}

}  // namespace

DataParallel::DataParallel(Module& model, std::size_t bucket_bytes)
    : reducer_(prepared_parameters(model), bucket_bytes) {}

Tensor DataParallel::weighted(const Tensor& local_mean_loss, std::int64_t local, std::int64_t global) {
  if (local == global) return local_mean_loss;
  return local_mean_loss * (static_cast<double>(local) / static_cast<double>(global));
}

}  // namespace mg::nn
