#pragma once
// A character-level language model: an embedding, nn::LSTM and a linear
// read-out predicting each next byte of a text every Debian system has (the
// licences in /usr/share/common-licenses).
#include <cstdint>
#include <memory>
#include <string>

#include "metagrad/nn/module.hpp"
#include "metagrad/optim/learned/task.hpp"
#include "optim/learned/module_network.hpp"

namespace mg::optim::learned {

// A text as int64 byte codes (bytes above 127 become 127): the first 90% to
// train on, the rest to test on.
struct Text {
  Tensor train, test;
};

// GPL-3, GPL-2, LGPL-2.1, Apache-2.0, MPL-2.0 and GFDL-1.3 from `dir`,
// concatenated; loaded once per process. A missing file throws mg::Error
// naming it.
std::shared_ptr<const Text> load_text(const std::string& dir);

struct CharLmShape {
  std::int64_t embedding = 32, hidden = 64, length = 32;  // length: characters per training window
};

// Mini-batches of `batch` windows drawn by (seed, step); the loss is the
// mean cross-entropy of every next character, in nats.
class CharLmProblem : public Problem {
 public:
  CharLmProblem(std::uint64_t seed, std::shared_ptr<const Text> text, std::int64_t batch, CharLmShape shape,
                DType dtype);

  NamedParameters initial() const override;
  Tensor loss(const std::vector<Tensor>& params, std::int64_t step) const override;
  // Windows of the test text, drawn by (seed, step) as the training ones are.
  Tensor validation_loss(const std::vector<Tensor>& params, std::int64_t step) const override;
  // On 64 evenly spaced windows of the test text.
  std::optional<Evaluation> evaluate(const std::vector<Tensor>& params) const override;

 private:
  Tensor random_windows_loss(const std::vector<Tensor>& params, const Tensor& codes, std::uint64_t seed,
                             std::int64_t step) const;
  Tensor window_loss(const std::vector<Tensor>& params, const Tensor& codes, const std::vector<std::int64_t>& starts,
                     Tensor* correct) const;

  std::uint64_t seed_;
  std::shared_ptr<const Text> text_;
  std::int64_t batch_;
  CharLmShape shape_;
  ModuleNetwork network_;
};

}  // namespace mg::optim::learned
