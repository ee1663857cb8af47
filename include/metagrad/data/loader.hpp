#pragma once
// Batches from a dataset: seeded shuffling per epoch, seeded augmentation
// (random crop with zero padding, horizontal flip) and per-channel
// normalisation, collated into (N, C, H, W) float32 inputs and int64 labels,
// prepared ahead on a background thread in order. Every random choice is a
// function of (seed, epoch, example), so the position (epoch, batch) is all a
// checkpoint needs to resume exactly.
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "metagrad/data/dataset.hpp"

namespace mg::data {

struct LoaderOptions {
  std::int64_t batch_size = 128;
  bool shuffle = true;
  bool drop_last = false;
  std::uint64_t seed = 0;
  bool random_crop = false;  // pad by crop_padding, crop back to size at a random offset
  std::int64_t crop_padding = 4;
  bool horizontal_flip = false;  // with probability 1/2
  std::vector<float> mean, std;  // per channel; empty: no normalisation
  int prefetch = 2;              // batches prepared ahead (0: on the caller's thread)
  // Data-parallel sharding: every global batch of batch_size examples is
  // split over `shards` ranks (distributed::shard) and this loader yields
  // part `shard` of each. The union over ranks is the one-process batch. A
  // last batch smaller than `shards` is dropped (some rank would get none).
  int shard = 0, shards = 1;
};

struct Batch {
  Tensor inputs;  // (N, C, H, W) float32
  Tensor labels;  // (N) int64
  std::int64_t index;
  std::int64_t global_size;  // examples in the whole batch over all shards (N with one shard)
};

class DataLoader {
 public:
  DataLoader(std::shared_ptr<Dataset> dataset, LoaderOptions options);
  ~DataLoader();
  DataLoader(const DataLoader&) = delete;
  DataLoader& operator=(const DataLoader&) = delete;

  std::int64_t batches_per_epoch() const;
  // Starts (or restarts) iteration at batch `first_batch` of `epoch`.
  void start_epoch(std::int64_t epoch, std::int64_t first_batch = 0);
  // The next batch of the epoch, or nothing at its end.
  std::optional<Batch> next();
  std::int64_t epoch() const { return epoch_; }
  std::int64_t next_batch() const { return next_batch_; }
  // Seconds next() spent waiting for the background thread.
  double waited_seconds() const { return waited_; }
  const Dataset& dataset() const { return *dataset_; }

  // The batch at a given position, built on the calling thread.
  Batch make_batch(std::int64_t epoch, std::int64_t batch) const;

 private:
  struct Prefetcher;
  std::shared_ptr<Dataset> dataset_;
  LoaderOptions options_;
  std::int64_t epoch_ = 0, next_batch_ = 0;
  std::vector<std::int64_t> order_;
  std::unique_ptr<Prefetcher> prefetcher_;
  double waited_ = 0;
};

// Per-channel statistics of the usual datasets (over their training sets).
LoaderOptions normalized_for(const std::string& dataset_name, LoaderOptions options);

}  // namespace mg::data
