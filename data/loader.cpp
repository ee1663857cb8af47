#include "metagrad/data/loader.hpp"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <exception>
#include <mutex>
#include <thread>

#include "core/check.hpp"
#include "core/philox.hpp"
#include "metagrad/core/distributed.hpp"
#include "metagrad/core/generator.hpp"

namespace mg::data {
namespace {

// A well-mixed 64-bit key from several integers (splitmix64 steps).
std::uint64_t mix(std::uint64_t a, std::uint64_t b, std::uint64_t c = 0) {
  std::uint64_t x = a ^ (b * 0x9E3779B97F4A7C15ull) ^ (c * 0xC2B2AE3D27D4EB4Full);
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return x ^ (x >> 31);
}

// Uniform double in [0, 1) number `i` of the stream `key`.
double uniform(std::uint64_t key, std::uint64_t i) {
  const auto bits = philox4x32(i, key);
  return static_cast<double>((std::uint64_t{bits[0]} << 21) ^ bits[1]) * 0x1.0p-53;
}

std::vector<std::int64_t> permutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch, bool shuffle) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) order[static_cast<std::size_t>(i)] = i;
  if (!shuffle) return order;
  const std::uint64_t key = mix(seed, static_cast<std::uint64_t>(epoch), 1);
  for (std::int64_t i = n - 1; i > 0; --i) {  // Fisher-Yates
    const auto j = static_cast<std::int64_t>(uniform(key, static_cast<std::uint64_t>(i)) * static_cast<double>(i + 1));
    std::swap(order[static_cast<std::size_t>(i)], order[static_cast<std::size_t>(std::min(j, i))]);
  }
  return order;
}

}  // namespace

// Builds batches ahead of the consumer on one background thread.
struct DataLoader::Prefetcher {
  std::mutex mutex;
  std::condition_variable changed;
  std::deque<Batch> ready;
  std::exception_ptr error;
  bool stop = false, done = false;
  std::thread thread;

  Prefetcher(const DataLoader& loader, std::int64_t epoch, std::int64_t first, std::int64_t last, int depth) {
    thread = std::thread([this, &loader, epoch, first, last, depth] {
      try {
        for (std::int64_t b = first; b < last; ++b) {
          Batch batch = loader.make_batch(epoch, b);
          std::unique_lock<std::mutex> lock(mutex);
          changed.wait(lock, [&] { return stop || static_cast<int>(ready.size()) < depth; });
          if (stop) return;
          ready.push_back(std::move(batch));
          changed.notify_all();
        }
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex);
        error = std::current_exception();
      }
      std::lock_guard<std::mutex> lock(mutex);
      done = true;
      changed.notify_all();
    });
  }

  ~Prefetcher() {
    {
      std::lock_guard<std::mutex> lock(mutex);
      stop = true;
      changed.notify_all();
    }
    thread.join();
  }

  std::optional<Batch> pop() {
    std::unique_lock<std::mutex> lock(mutex);
    changed.wait(lock, [&] { return !ready.empty() || done; });
    if (ready.empty()) {
      if (error) std::rethrow_exception(error);
      return std::nullopt;
    }
    Batch batch = std::move(ready.front());
    ready.pop_front();
    changed.notify_all();
    return batch;
  }
};

DataLoader::DataLoader(std::shared_ptr<Dataset> dataset, LoaderOptions options)
    : dataset_(std::move(dataset)), options_(std::move(options)) {
  MG_CHECK(dataset_ != nullptr, "DataLoader: no dataset");
  MG_CHECK(options_.batch_size >= 1, "DataLoader: batch size must be positive, got {}", options_.batch_size);
  MG_CHECK(options_.crop_padding >= 0, "DataLoader: crop padding must not be negative");
  const std::int64_t channels = dataset_->input_shape().empty() ? 1 : dataset_->input_shape()[0];
  MG_CHECK(options_.mean.size() == options_.std.size() &&
               (options_.mean.empty() || static_cast<std::int64_t>(options_.mean.size()) == channels),
           "DataLoader: normalisation needs one mean and one std per channel ({} channels)", channels);
  MG_CHECK(!(options_.random_crop || options_.horizontal_flip) || dataset_->input_shape().size() == 3,
           "DataLoader: crops and flips need (C, H, W) images, the dataset gives {}",
           to_string(dataset_->input_shape()));
  MG_CHECK(options_.shards >= 1 && options_.shard >= 0 && options_.shard < options_.shards &&
               options_.batch_size >= options_.shards,
           "DataLoader: shard {} of {} of batches of {} (every shard needs an example)", options_.shard,
           options_.shards, options_.batch_size);
}

DataLoader::~DataLoader() = default;

std::int64_t DataLoader::batches_per_epoch() const {
  const std::int64_t n = dataset_->size(), b = options_.batch_size;
  return options_.drop_last || n % b < options_.shards ? n / b : n / b + 1;
}

void DataLoader::start_epoch(std::int64_t epoch, std::int64_t first_batch) {
  MG_CHECK(first_batch >= 0 && first_batch <= batches_per_epoch(), "DataLoader: batch {} is outside the epoch (0..{})",
           first_batch, batches_per_epoch());
  prefetcher_.reset();
  epoch_ = epoch;
  next_batch_ = first_batch;
  order_ = permutation(dataset_->size(), options_.seed, epoch, options_.shuffle);
  if (options_.prefetch > 0)
    prefetcher_ = std::make_unique<Prefetcher>(*this, epoch, first_batch, batches_per_epoch(), options_.prefetch);
}

std::optional<Batch> DataLoader::next() {
  if (next_batch_ >= batches_per_epoch()) return std::nullopt;
  std::optional<Batch> batch;
  if (prefetcher_) {
    const auto start = std::chrono::steady_clock::now();
    batch = prefetcher_->pop();
    waited_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } else {
    batch = make_batch(epoch_, next_batch_);
  }
  if (batch) ++next_batch_;
  return batch;
}

Batch DataLoader::make_batch(std::int64_t epoch, std::int64_t b) const {
  // The current epoch's order is kept; another epoch's is recomputed.
  std::vector<std::int64_t> other_epoch;
  if (epoch != epoch_ || order_.empty())
    other_epoch = permutation(dataset_->size(), options_.seed, epoch, options_.shuffle);
  const std::vector<std::int64_t>& order = other_epoch.empty() ? order_ : other_epoch;
  const std::int64_t global_size = std::min(options_.batch_size, dataset_->size() - b * options_.batch_size);
  const distributed::Range part = distributed::shard(global_size, options_.shard, options_.shards);
  const std::int64_t begin = b * options_.batch_size + part.begin, count = part.end - part.begin;
  const Shape& shape = dataset_->input_shape();
  Shape batch_shape{count};
  batch_shape.insert(batch_shape.end(), shape.begin(), shape.end());
  Tensor inputs = Tensor::empty(batch_shape);
  std::vector<std::int64_t> labels(static_cast<std::size_t>(count));
  const std::int64_t per_example = inputs.numel() / std::max<std::int64_t>(count, 1);
  float* out = inputs.data_ptr<float>();
  for (std::int64_t k = 0; k < count; ++k) {
    const std::int64_t index = order[static_cast<std::size_t>(begin + k)];
    const Example example = dataset_->get(index);
    labels[static_cast<std::size_t>(k)] = example.label;
    const float* in = example.input.data_ptr<float>();
    float* dst = out + k * per_example;
    if (shape.size() == 3 && (options_.random_crop || options_.horizontal_flip)) {
      const std::uint64_t key =
          mix(options_.seed, static_cast<std::uint64_t>(epoch), static_cast<std::uint64_t>(index) + 2);
      const std::int64_t c = shape[0], h = shape[1], w = shape[2], pad = options_.crop_padding;
      const std::int64_t dy = options_.random_crop
                                  ? static_cast<std::int64_t>(uniform(key, 0) * static_cast<double>(2 * pad + 1)) - pad
                                  : 0;
      const std::int64_t dx = options_.random_crop
                                  ? static_cast<std::int64_t>(uniform(key, 1) * static_cast<double>(2 * pad + 1)) - pad
                                  : 0;
      const bool flip = options_.horizontal_flip && uniform(key, 2) < 0.5;
      for (std::int64_t ch = 0; ch < c; ++ch)
        for (std::int64_t y = 0; y < h; ++y)
          for (std::int64_t x = 0; x < w; ++x) {
            const std::int64_t sy = y + dy, sx = (flip ? w - 1 - x : x) + dx;
            dst[(ch * h + y) * w + x] = sy >= 0 && sy < h && sx >= 0 && sx < w ? in[(ch * h + sy) * w + sx] : 0.0f;
          }
    } else {
      std::copy_n(in, per_example, dst);
    }
    if (!options_.mean.empty()) {
      const std::int64_t channels = static_cast<std::int64_t>(options_.mean.size());
      const std::int64_t plane = per_example / channels;
      for (std::int64_t ch = 0; ch < channels; ++ch) {
        const float m = options_.mean[static_cast<std::size_t>(ch)],
                    inv = 1.0f / options_.std[static_cast<std::size_t>(ch)];
        for (std::int64_t i = 0; i < plane; ++i) dst[ch * plane + i] = (dst[ch * plane + i] - m) * inv;
      }
    }
  }
  return {inputs, Tensor::from_vector(labels, {count}), b, global_size};
}

LoaderOptions normalized_for(const std::string& dataset_name, LoaderOptions options) {
  if (dataset_name.rfind("cifar10", 0) == 0 && dataset_name.rfind("cifar100", 0) != 0) {
    options.mean = {0.4914f, 0.4822f, 0.4465f};
    options.std = {0.2470f, 0.2435f, 0.2616f};
  } else if (dataset_name.rfind("cifar100", 0) == 0) {
    options.mean = {0.5071f, 0.4865f, 0.4409f};
    options.std = {0.2673f, 0.2564f, 0.2762f};
  } else if (dataset_name.rfind("fashion-mnist", 0) == 0) {
    options.mean = {0.2860f};
    options.std = {0.3530f};
  } else if (dataset_name.rfind("mnist", 0) == 0) {
    options.mean = {0.1307f};
    options.std = {0.3081f};
  }
  return options;
}

}  // namespace mg::data
