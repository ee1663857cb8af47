// The DataLoader: deterministic order and augmentation, positions, prefetch.
#include <set>

#include "../support/testing.hpp"

namespace {

using mg::Tensor;

std::shared_ptr<mg::data::Dataset> small_images() { return mg::data::synthetic(50, {3, 8, 8}, 4, 3); }

std::vector<std::vector<float>> epoch_inputs(mg::data::DataLoader& loader, std::int64_t epoch) {
  std::vector<std::vector<float>> out;
  loader.start_epoch(epoch);
  while (auto batch = loader.next()) out.push_back(batch->inputs.to_vector());
  return out;
}

}  // namespace

TEST_CASE("every example appears once per epoch, in a seeded order that changes with the epoch") {
  mg::data::LoaderOptions options;
  options.batch_size = 8;
  options.prefetch = 0;
  mg::data::DataLoader loader(mg::data::synthetic(50, {2}, 3, 1), options);
  CHECK(loader.batches_per_epoch() == 7);
  std::multiset<float> seen;
  loader.start_epoch(0);
  std::int64_t batches = 0;
  while (auto batch = loader.next()) {
    ++batches;
    for (float v : batch->inputs.select(1, 0).to_vector()) seen.insert(v);
  }
  CHECK(batches == 7);
  CHECK(seen.size() == 50);
  CHECK(std::set<float>(seen.begin(), seen.end()).size() == 50);
  CHECK(epoch_inputs(loader, 0) == epoch_inputs(loader, 0));
  CHECK(epoch_inputs(loader, 0) != epoch_inputs(loader, 1));
  options.drop_last = true;
  CHECK(mg::data::DataLoader(mg::data::synthetic(50, {2}, 3, 1), options).batches_per_epoch() == 6);
}

TEST_CASE("augmentation is seeded per example and epoch; background prefetch gives the same batches") {
  mg::data::LoaderOptions options;
  options.batch_size = 16;
  options.random_crop = true;
  options.crop_padding = 2;
  options.horizontal_flip = true;
  options.mean = {0.1f, 0.2f, 0.3f};
  options.std = {1.0f, 2.0f, 3.0f};
  options.prefetch = 0;
  mg::data::DataLoader inline_loader(small_images(), options);
  options.prefetch = 3;
  mg::data::DataLoader background(small_images(), options);
  CHECK(epoch_inputs(inline_loader, 2) == epoch_inputs(background, 2));
  CHECK(epoch_inputs(background, 2) != epoch_inputs(background, 3));
  // starting mid-epoch gives the same batches as running through
  background.start_epoch(2, 2);
  const auto rest = background.next();
  REQUIRE(rest.has_value());
  CHECK(rest->inputs.to_vector() == epoch_inputs(inline_loader, 2)[2]);
  CHECK(rest->index == 2);
}

TEST_CASE("normalisation and crops") {
  mg::data::LoaderOptions options;
  options.batch_size = 50;
  options.shuffle = false;
  options.prefetch = 0;
  options.mean = {0.5f, 0.5f, 0.5f};
  options.std = {2.0f, 2.0f, 2.0f};
  const auto data = small_images();
  mg::data::DataLoader loader(data, options);
  loader.start_epoch(0);
  const auto batch = loader.next();
  REQUIRE(batch.has_value());
  const auto raw = data->get(3).input.to_vector();
  CHECK(batch->inputs.select(0, 3).to_vector()[5] == doctest::Approx((raw[5] - 0.5f) / 2.0f));
  CHECK(batch->labels.to_vector<std::int64_t>()[3] == data->get(3).label);
  options.mean = {0.5f};
  CHECK_THROWS_WITH_AS(mg::data::DataLoader(data, options), doctest::Contains("one mean and one std per channel"),
                       mg::Error);
}

TEST_CASE("shards of each batch follow the seeded permutation and together make the one-process batch") {
  mg::data::LoaderOptions options;
  options.batch_size = 8;
  options.prefetch = 0;
  options.random_crop = options.horizontal_flip = true;
  const auto dataset = small_images();  // 50 examples: six batches of 8, then 2
  mg::data::DataLoader whole(dataset, options);
  for (int shards : {2, 3}) {
    std::vector<std::unique_ptr<mg::data::DataLoader>> parts;
    for (int shard = 0; shard < shards; ++shard) {
      mg::data::LoaderOptions sharded = options;
      sharded.shard = shard;
      sharded.shards = shards;
      parts.push_back(std::make_unique<mg::data::DataLoader>(dataset, sharded));
    }
    // The last batch of 2 cannot give each of 3 shards an example: dropped.
    CHECK(parts[0]->batches_per_epoch() == (shards == 2 ? 7 : 6));
    for (std::int64_t b = 0; b < parts[0]->batches_per_epoch(); ++b) {
      const mg::data::Batch expected = whole.make_batch(1, b);
      std::vector<Tensor> inputs, labels;
      for (const auto& part : parts) {
        const mg::data::Batch shard = part->make_batch(1, b);
        CHECK(shard.global_size == expected.labels.numel());
        inputs.push_back(shard.inputs);
        labels.push_back(shard.labels);
      }
      CHECK(mg::cat(inputs, 0).to_vector() == expected.inputs.to_vector());
      CHECK(mg::cat(labels, 0).to_vector<std::int64_t>() == expected.labels.to_vector<std::int64_t>());
    }
  }
  options.shard = 2;
  options.shards = 2;
  CHECK_THROWS_AS(mg::data::DataLoader(dataset, options), mg::Error);
}
