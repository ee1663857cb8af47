// CIFAR and IDX readers: whole files are read and validated up front, then
// examples are decoded on demand.
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

#include "core/check.hpp"
#include "core/tensor_impl.hpp"
#include "metagrad/core/generator.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/data/dataset.hpp"

namespace mg::data {
namespace {

std::vector<std::uint8_t> read_file(const std::string& path) {
  MG_CHECK(std::filesystem::exists(path), "{}: no such file", path);
  if (path.size() > 3 && path.compare(path.size() - 3, 3, ".gz") == 0) {
    gzFile file = gzopen(path.c_str(), "rb");
    MG_CHECK(file != nullptr, "{}: cannot open: {}", path, std::strerror(errno));
    std::vector<std::uint8_t> bytes;
    std::array<std::uint8_t, 1 << 16> chunk;
    int n = 0;
    while ((n = gzread(file, chunk.data(), chunk.size())) > 0)
      bytes.insert(bytes.end(), chunk.begin(), chunk.begin() + n);
    int error = 0;
    const std::string message = gzerror(file, &error);  // owned by the gzFile: copy before closing
    gzclose(file);
    MG_CHECK(n == 0 && error == Z_OK, "{}: corrupt gzip data after {} bytes: {}", path, bytes.size(), message);
    return bytes;
  }
  std::ifstream in(path, std::ios::binary);
  MG_CHECK(in.good(), "{}: cannot open: {}", path, std::strerror(errno));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Fixed-size records of label bytes followed by pixel bytes.
class RecordDataset : public Dataset {
 public:
  RecordDataset(std::string name, Shape shape, std::int64_t classes, std::int64_t label_bytes, std::int64_t label_at)
      : name_(std::move(name)),
        shape_(std::move(shape)),
        classes_(classes),
        label_bytes_(label_bytes),
        label_at_(label_at),
        pixels_(shape_numel(shape_)) {}

  void add_file(const std::string& path) {
    const auto bytes = read_file(path);
    const std::int64_t record = label_bytes_ + pixels_;
    MG_CHECK(!bytes.empty() && static_cast<std::int64_t>(bytes.size()) % record == 0,
             "{}: {} bytes is not a whole number of {}-byte records ({} label bytes + {} pixels)", path, bytes.size(),
             record, label_bytes_, pixels_);
    const std::int64_t count = static_cast<std::int64_t>(bytes.size()) / record;
    for (std::int64_t r = 0; r < count; ++r) {
      const std::uint8_t label = bytes[static_cast<std::size_t>(r * record + label_at_)];
      MG_CHECK(label < classes_, "{}: record {} (byte {}) has label {}, expected 0..{}", path, r,
               r * record + label_at_, label, classes_ - 1);
      labels_.push_back(label);
      pixels_data_.insert(pixels_data_.end(), bytes.begin() + r * record + label_bytes_,
                          bytes.begin() + (r + 1) * record);
    }
  }

  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  Shape input_shape() const override { return shape_; }
  std::int64_t classes() const override { return classes_; }
  std::string name() const override { return name_; }

  Example get(std::int64_t index) const override {
    MG_CHECK(index >= 0 && index < size(), "{}: example {} is out of range (size {})", name_, index, size());
    Tensor input = Tensor::empty(shape_);
    float* out = input.data_ptr<float>();
    const std::uint8_t* in = pixels_data_.data() + index * pixels_;
    for (std::int64_t i = 0; i < pixels_; ++i) out[i] = static_cast<float>(in[i]) * (1.0f / 255.0f);
    return {input, labels_[static_cast<std::size_t>(index)]};
  }

 private:
  std::string name_;
  Shape shape_;
  std::int64_t classes_, label_bytes_, label_at_, pixels_;
  std::vector<std::uint8_t> labels_, pixels_data_;
};

std::uint32_t big_endian(const std::vector<std::uint8_t>& bytes, std::size_t at) {
  return std::uint32_t{bytes[at]} << 24 | std::uint32_t{bytes[at + 1]} << 16 | std::uint32_t{bytes[at + 2]} << 8 |
         bytes[at + 3];
}

// An IDX file's dims after checking its magic number (0x0000 08 <ndim>: unsigned bytes).
Shape idx_dims(const std::vector<std::uint8_t>& bytes, const std::string& path, std::uint8_t ndim) {
  MG_CHECK(bytes.size() >= 4u + 4u * ndim, "{}: {} bytes is too short for an IDX header of {} dims", path, bytes.size(),
           ndim);
  const std::uint32_t magic = big_endian(bytes, 0);
  MG_CHECK(magic == (0x0800u | ndim),
           "{}: magic number {:#010x} at byte 0, expected {:#010x} (unsigned bytes, {} dims)", path, magic,
           0x0800u | ndim, ndim);
  Shape dims;
  std::uint64_t total = 1;
  bool overflow = false;
  for (std::uint8_t d = 0; d < ndim; ++d) {
    dims.push_back(big_endian(bytes, 4 + 4u * d));
    overflow = overflow || __builtin_mul_overflow(total, static_cast<std::uint64_t>(dims.back()), &total);
  }
  MG_CHECK(!overflow && total <= bytes.size(), "{}: the header's dims {} describe more data than the file's {} bytes",
           path, to_string(dims), bytes.size());
  const std::size_t expected = 4u + 4u * ndim + static_cast<std::size_t>(total);
  MG_CHECK(bytes.size() == expected, "{}: {} bytes, but the header's dims {} need exactly {}", path, bytes.size(),
           to_string(dims), expected);
  return dims;
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& images, const std::string& labels, std::int64_t classes, std::string name)
      : name_(std::move(name)), classes_(classes) {
    image_bytes_ = read_file(images);
    const Shape image_dims = idx_dims(image_bytes_, images, 3);
    label_bytes_ = read_file(labels);
    const Shape label_dims = idx_dims(label_bytes_, labels, 1);
    MG_CHECK(image_dims[0] == label_dims[0], "{} has {} images but {} has {} labels", images, image_dims[0], labels,
             label_dims[0]);
    count_ = image_dims[0];
    shape_ = {1, image_dims[1], image_dims[2]};
    for (std::int64_t i = 0; i < count_; ++i) {
      const std::uint8_t label = label_bytes_[static_cast<std::size_t>(8 + i)];
      MG_CHECK(label < classes_, "{}: label {} (byte {}) is {}, expected 0..{}", labels, i, 8 + i, label, classes_ - 1);
    }
  }

  std::int64_t size() const override { return count_; }
  Shape input_shape() const override { return shape_; }
  std::int64_t classes() const override { return classes_; }
  std::string name() const override { return name_; }

  Example get(std::int64_t index) const override {
    MG_CHECK(index >= 0 && index < count_, "{}: example {} is out of range (size {})", name_, index, count_);
    const std::int64_t pixels = shape_numel(shape_);
    Tensor input = Tensor::empty(shape_);
    float* out = input.data_ptr<float>();
    const std::uint8_t* in = image_bytes_.data() + 16 + index * pixels;
    for (std::int64_t i = 0; i < pixels; ++i) out[i] = static_cast<float>(in[i]) * (1.0f / 255.0f);
    return {input, label_bytes_[static_cast<std::size_t>(8 + index)]};
  }

 private:
  std::string name_;
  std::int64_t classes_, count_ = 0;
  Shape shape_;
  std::vector<std::uint8_t> image_bytes_, label_bytes_;
};

// Examples are made up front, on the constructing thread: get() runs on the
// loader's background thread and must not call into BLAS.
class SyntheticDataset : public Dataset {
 public:
  SyntheticDataset(std::int64_t size, Shape shape, std::int64_t classes, std::uint64_t seed, std::uint64_t split)
      : shape_(std::move(shape)), classes_(classes) {
    MG_CHECK(size > 0 && classes > 1, "synthetic: expected size > 0 and classes > 1, got {} and {}", size, classes);
    Generator teacher_generator(seed);
    const Tensor teacher = randn({shape_numel(shape_), classes}, teacher_generator);
    Generator g(seed * 0x9E3779B97F4A7C15ull + split + 1);
    inputs_ = randn({size, shape_numel(shape_)}, g);
    labels_ = argmax(matmul(inputs_, teacher), 1).to_vector<std::int64_t>();
  }
  std::int64_t size() const override { return static_cast<std::int64_t>(labels_.size()); }
  Shape input_shape() const override { return shape_; }
  std::int64_t classes() const override { return classes_; }
  std::string name() const override { return "synthetic"; }
  Example get(std::int64_t index) const override {
    MG_CHECK(index >= 0 && index < size(), "synthetic: example {} is out of range (size {})", index, size());
    Tensor x = Tensor::empty(shape_);
    const std::int64_t n = x.numel();
    std::copy_n(inputs_.data_ptr<float>() + index * n, n, x.data_ptr<float>());
    return {x, labels_[static_cast<std::size_t>(index)]};
  }

 private:
  Shape shape_;
  std::int64_t classes_;
  Tensor inputs_;
  std::vector<std::int64_t> labels_;
};

class Subset : public Dataset {
 public:
  Subset(std::shared_ptr<Dataset> base, std::int64_t count) : base_(std::move(base)), count_(count) {
    MG_CHECK(count >= 1 && count <= base_->size(), "subset: {} examples of a dataset of {}", count, base_->size());
  }
  std::int64_t size() const override { return count_; }
  Example get(std::int64_t index) const override {
    MG_CHECK(index >= 0 && index < count_, "{}: example {} is out of range (size {})", name(), index, count_);
    return base_->get(index);
  }
  Shape input_shape() const override { return base_->input_shape(); }
  std::int64_t classes() const override { return base_->classes(); }
  std::string name() const override { return base_->name(); }

 private:
  std::shared_ptr<Dataset> base_;
  std::int64_t count_;
};

}  // namespace

std::shared_ptr<Dataset> subset(std::shared_ptr<Dataset> dataset, std::int64_t count) {
  return std::make_shared<Subset>(std::move(dataset), count);
}

std::shared_ptr<Dataset> cifar10(const std::string& dir, bool train) {
  auto dataset = std::make_shared<RecordDataset>(train ? "cifar10-train" : "cifar10-test", Shape{3, 32, 32}, 10, 1, 0);
  if (train)
    for (int i = 1; i <= 5; ++i) dataset->add_file(dir + "/data_batch_" + std::to_string(i) + ".bin");
  else
    dataset->add_file(dir + "/test_batch.bin");
  return dataset;
}

std::shared_ptr<Dataset> cifar100(const std::string& dir, bool train) {
  auto dataset =
      std::make_shared<RecordDataset>(train ? "cifar100-train" : "cifar100-test", Shape{3, 32, 32}, 100, 2, 1);
  dataset->add_file(dir + (train ? "/train.bin" : "/test.bin"));
  return dataset;
}

std::shared_ptr<Dataset> idx(const std::string& images_path, const std::string& labels_path, std::int64_t classes) {
  return std::make_shared<IdxDataset>(images_path, labels_path, classes, "idx");
}

std::shared_ptr<Dataset> mnist_like(const std::string& dir, bool train, const std::string& name) {
  const std::string prefix = dir + "/" + (train ? "train" : "t10k");
  auto pick = [&](const std::string& stem) {
    const std::string plain = prefix + stem;
    return std::filesystem::exists(plain) ? plain : plain + ".gz";
  };
  return std::make_shared<IdxDataset>(pick("-images-idx3-ubyte"), pick("-labels-idx1-ubyte"), 10,
                                      name + (train ? "-train" : "-test"));
}

std::shared_ptr<Dataset> synthetic(std::int64_t size, const Shape& input_shape, std::int64_t classes,
                                   std::uint64_t seed, std::uint64_t split) {
  return std::make_shared<SyntheticDataset>(size, input_shape, classes, seed, split);
}

}  // namespace mg::data
