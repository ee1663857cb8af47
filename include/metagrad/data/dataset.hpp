#pragma once
// Datasets: size() examples, each an input tensor and a class label.
// Readers validate their files and throw mg::Error naming the file, the byte
// or record, and what was expected.
#include <cstdint>
#include <memory>
#include <string>

#include "metagrad/core/tensor.hpp"

namespace mg::data {

struct Example {
  Tensor input;  // float32, e.g. (C, H, W) in [0, 1]
  std::int64_t label;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual std::int64_t size() const = 0;
  virtual Example get(std::int64_t index) const = 0;
  virtual Shape input_shape() const = 0;
  virtual std::int64_t classes() const = 0;
  virtual std::string name() const = 0;
};

// CIFAR binary format: the record count comes from the file size. CIFAR-10
// reads data_batch_1..5.bin (train) or test_batch.bin; CIFAR-100 train.bin or
// test.bin with (coarse, fine) label bytes, fine labels used.
std::shared_ptr<Dataset> cifar10(const std::string& dir, bool train);
std::shared_ptr<Dataset> cifar100(const std::string& dir, bool train);
// IDX files (MNIST, Fashion-MNIST), gzip-compressed (.gz) or plain.
std::shared_ptr<Dataset> idx(const std::string& images_path, const std::string& labels_path, std::int64_t classes = 10);
// train-/t10k-{images-idx3,labels-idx1}-ubyte[.gz] in `dir`.
std::shared_ptr<Dataset> mnist_like(const std::string& dir, bool train, const std::string& name);
// Gaussian inputs labelled by a random linear teacher drawn from `seed`;
// splits of one task share the seed and differ in `split`.
std::shared_ptr<Dataset> synthetic(std::int64_t size, const Shape& input_shape, std::int64_t classes,
                                   std::uint64_t seed, std::uint64_t split = 0);

// The first `count` examples of a dataset.
std::shared_ptr<Dataset> subset(std::shared_ptr<Dataset> dataset, std::int64_t count);

// Where Debian's dataset-fashion-mnist package installs its files.
constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

}  // namespace mg::data
