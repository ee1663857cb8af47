#pragma once
// Data-parallel training of one model over the MPI ranks: every rank holds
// the same parameters, takes its shard of each global batch, and after
// backward every rank's grad() is the gradient of the whole batch's mean
// loss, as one process holding the whole batch would compute it (up to the
// order of float sums). Batch normalisation uses the statistics of the
// whole batch (BatchNorm2d::synchronized), so the equality holds for
// models with it too, and running statistics stay identical on every rank.
//
//   nn::DataParallel parallel(model);          // broadcasts rank 0's state
//   Tensor loss = F::cross_entropy(model.forward(shard.inputs), shard.labels);
//   parallel.weighted(loss, shard.labels.numel(), shard.global_size).backward();
//   parallel.finish();                         // grads summed over ranks
//   optimizer.step();
//
// In a world of one every call leaves things as they are.
#include <cstddef>
#include <cstdint>

#include "metagrad/core/distributed.hpp"
#include "metagrad/nn/module.hpp"

namespace mg::nn {

// Sets BatchNorm2d::synchronized on every batch norm in `model`.
void synchronize_batch_norm(Module& model, bool synchronized = true);
// Copies rank 0's parameters and buffers into every rank's `model`.
void broadcast_state(Module& model);

class DataParallel {
 public:
  explicit DataParallel(Module& model, std::size_t bucket_bytes = std::size_t{256} << 10);

  // The loss to differentiate on this rank: its mean loss over `local`
  // examples weighted by its share of the `global` ones, so that the sum
  // over ranks is the mean over the whole batch.
  static Tensor weighted(const Tensor& local_mean_loss, std::int64_t local, std::int64_t global);
  // After backward: waits for the gradient sums (started during backward).
  void finish() { reducer_.finish(); }
  const distributed::GradientReducer::Timing& timing() const { return reducer_.timing(); }

 private:
  distributed::GradientReducer reducer_;
};

}  // namespace mg::nn
