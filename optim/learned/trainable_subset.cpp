// A learned optimizer of which only some weights are meta-trained: the
// others stay at the start's values. A few numbers (a log learning rate, a
// schedule's strengths) have meta-gradients that a small population of
// evolution strategies estimates well, where the same population over all
// of a network's weights is mostly noise.
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/optim/learned/learned_optimizer.hpp"
#include "metagrad/optim/learned/lstm.hpp"

namespace mg::optim::learned {
namespace {

// FNV-1a over the fixed weights' bytes and the indices: names the frozen
// part, so that a checkpoint resumes only over the same start and subset.
std::uint64_t fingerprint(const Tensor& fixed, const std::vector<std::int64_t>& indices) {
  std::uint64_t h = 1469598103934665603ull;
  const auto mix = [&h](const void* data, std::size_t bytes) {
    for (std::size_t i = 0; i < bytes; ++i) h = (h ^ static_cast<const unsigned char*>(data)[i]) * 1099511628211ull;
  };
  const Tensor values = fixed.to(DType::Float64).contiguous();
  mix(values.data_ptr<double>(), static_cast<std::size_t>(values.numel()) * sizeof(double));
  mix(indices.data(), indices.size() * sizeof(std::int64_t));
  return h;
}

class TrainableSubset : public LearnedOptimizer {
 public:
  TrainableSubset(std::unique_ptr<LearnedOptimizer> inner, const std::vector<std::int64_t>& indices)
      : inner_(std::move(inner)) {
    const Tensor& phi = inner_->meta_parameters().front().second;
    NoGradGuard no_grad;
    index_ = Tensor::from_vector(indices, {static_cast<std::int64_t>(indices.size())});
    const Tensor start = phi.detach().reshape({phi.numel()});
    fixed_ = index_add(start, 0, index_, neg(index_select(start, 0, index_)));  // the trained entries zeroed
    meta_.emplace_back(fmt::format("subset {:016x}", fingerprint(fixed_, indices)),
                       index_select(start, 0, index_).clone().requires_grad_());
  }

  std::string name() const override { return inner_->name(); }
  using LearnedOptimizer::make;
  std::unique_ptr<Optimizer> make(const NamedParameters& params, const std::vector<Tensor>& meta,
                                  std::int64_t steps) const override {
    return inner_->make(params, {full(meta.at(0))}, steps);
  }
  void save(const std::string& path) const override {
    NoGradGuard no_grad;
    save_weights(path, full(meta_.front().second.detach()));
  }

 private:
  // The inner optimizer's weights: the fixed ones with `trained` in place.
  Tensor full(const Tensor& trained) const {
    const Tensor& phi = inner_->meta_parameters().front().second;
    return index_add(fixed_, 0, index_, trained).reshape(phi.shape());
  }

  std::unique_ptr<LearnedOptimizer> inner_;
  Tensor index_, fixed_;
};

// `text` as a whole number of at most 18 digits (no sign, no spaces), or -1.
std::int64_t whole_number(const std::string& text) {
  const bool digits = !text.empty() && text.size() <= 18 &&
                      std::all_of(text.begin(), text.end(), [](char c) { return c >= '0' && c <= '9'; });
  return digits ? std::stoll(text) : -1;
}

// Sorted indices into a weight list of `count` entries.
std::vector<std::int64_t> parse_weight_indices(const std::string& text, std::int64_t count) {
  std::vector<std::int64_t> indices;
  std::size_t at = 0;
  while (at <= text.size()) {
    const std::size_t comma = std::min(text.find(',', at), text.size());
    const std::string item = text.substr(at, comma - at);
    const std::size_t dash = item.find('-');
    const std::int64_t first = whole_number(item.substr(0, dash));
    const std::int64_t last = dash == std::string::npos ? first : whole_number(item.substr(dash + 1));
    MG_CHECK(first >= 0 && last >= 0,
             "weight indices: expected a list of indices and ranges such as 1696,1698,1760-1762, not '{}'", text);
    MG_CHECK(first <= last && last < count,
             "weight indices: '{}' is outside the weight list's 0-{} (or a range runs backwards)", item, count - 1);
    for (std::int64_t i = first; i <= last; ++i) indices.push_back(i);
    at = comma + 1;
  }
  std::sort(indices.begin(), indices.end());
  MG_CHECK(std::adjacent_find(indices.begin(), indices.end()) == indices.end(),
           "weight indices: '{}' names an index twice", text);
  return indices;
}

}  // namespace

std::unique_ptr<LearnedOptimizer> train_only(std::unique_ptr<LearnedOptimizer> learned, const std::string& indices) {
  const auto& meta = learned->meta_parameters();
  MG_CHECK(meta.size() == 1, "{}: its meta-parameters are {} tensors; training a subset of its weights needs one",
           learned->name(), meta.size());
  return std::make_unique<TrainableSubset>(std::move(learned),
                                           parse_weight_indices(indices, meta.front().second.numel()));
}

}  // namespace mg::optim::learned
