// Data-parallel training equals one process holding the whole batch: each
// rank trains on its shard of the same global batches, and every rank
// computes the one-process run itself to compare against.
#include "metagrad/nn/data_parallel.hpp"

#include <optional>

#include "../support/testing.hpp"

namespace mg {
namespace {

namespace F = nn::functional;

// Trains `steps` steps of SGD with momentum on global batches of 16 of a
// synthetic dataset; with `shards` > 1 this rank takes its shard of each.
std::vector<Tensor> train(const std::string& model_name, int steps, bool data_parallel) {
  const auto dataset = data::synthetic(64, {1, 12, 12}, 4, 3);
  data::LoaderOptions options;
  options.batch_size = 16;
  options.seed = 5;
  options.prefetch = 0;
  if (data_parallel) {
    options.shard = distributed::rank();
    options.shards = distributed::world_size();
  }
  data::DataLoader loader(dataset, options);
  Generator init(11);
  std::shared_ptr<nn::Module> model;
  if (model_name == "mlp")
    model = std::make_shared<nn::MLP>(std::vector<std::int64_t>{144, 32, 4}, nn::Activation::Relu, init);
  else
    model = std::make_shared<nn::SmallCnn>(1, 4, init);
  if (data_parallel && distributed::rank() > 0) {  // the broadcast must undo a different initialisation
    NoGradGuard no_grad;
    for (Tensor p : model->parameters()) p.copy_(p * 3.0 + 1.0);
  }
  std::optional<nn::DataParallel> parallel;
  if (data_parallel) parallel.emplace(*model, 4096);  // several buckets
  auto optimizer = optim::make("sgd(lr=0.1, momentum=0.9)", model->named_parameters());
  loader.start_epoch(0);
  for (int step = 0; step < steps; ++step) {
    const auto batch = loader.next();
    REQUIRE(batch);
    optimizer->zero_grad();
    const Tensor loss = F::cross_entropy(model->forward(batch->inputs), batch->labels);
    nn::DataParallel::weighted(loss, batch->labels.numel(), batch->global_size).backward();
    if (parallel) parallel->finish();
    optimizer->step();
  }
  std::vector<Tensor> state;
  for (const auto& [name, t] : model->state_dict()) state.push_back(t);
  return state;
}

// Float32 sums in a different order (per-rank partial sums, then the
// all-reduce) differ from one process's in the last bits; four steps of
// SGD carry that to about 1e-6 relative.
void check_equivalent(const std::string& model) {
  const std::vector<Tensor> alone = train(model, 4, false), parallel = train(model, 4, true);
  REQUIRE(alone.size() == parallel.size());
  for (std::size_t i = 0; i < alone.size(); ++i)
    testing::check_close(parallel[i], alone[i], 2e-5, 2e-6, model + " tensor " + std::to_string(i));
}

TEST_CASE("data-parallel training of the MLP equals one process with the whole batch") { check_equivalent("mlp"); }

TEST_CASE("data-parallel training of the small CNN (synchronised batch norm) equals one process") {
  check_equivalent("cnn");
}

TEST_CASE("weighted scales a shard's mean loss by its share of the batch") {
  const Tensor loss = full({}, 2.0);
  CHECK(nn::DataParallel::weighted(loss, 4, 16).item<double>() == 0.5);
  CHECK(nn::DataParallel::weighted(loss, 16, 16).item<double>() == 2.0);
}

}  // namespace
}  // namespace mg
