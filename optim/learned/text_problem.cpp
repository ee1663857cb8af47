#include "optim/learned/text_problem.hpp"

#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <mutex>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/nn/functional.hpp"
#include "metagrad/nn/layers.hpp"
#include "metagrad/nn/lstm.hpp"
#include "optim/learned/image_problem.hpp"

namespace mg::optim::learned {
namespace {

namespace F = nn::functional;

constexpr std::int64_t kVocabulary = 128;

// tokens (T, N) int64 -> next-token scores (T * N, vocabulary).
class CharModel : public nn::Module {
 public:
  CharModel(const CharLmShape& shape, Generator& g) {
    embedding = randn({kVocabulary, shape.embedding}, g);  // nn.Embedding's N(0, 1)
    register_parameter("embedding", &embedding);
    lstm_ = register_module("lstm", std::make_shared<nn::LSTM>(shape.embedding, shape.hidden, 1, true, g));
    fc_ = register_module("fc", std::make_shared<nn::Linear>(nn::LinearOptions(shape.hidden, kVocabulary), g));
  }
  Tensor forward(const Tensor& tokens) override {
    const std::int64_t steps = tokens.size(0), batch = tokens.size(1);
    const Tensor x = index_select(embedding, 0, tokens.reshape({steps * batch})).reshape({steps, batch, -1});
    const Tensor h = lstm_->forward(x).first;
    return fc_->forward(h.reshape({steps * batch, h.size(2)}));
  }
  std::string type_name() const override { return "CharModel"; }
  Tensor embedding;

 private:
  std::shared_ptr<nn::LSTM> lstm_;
  std::shared_ptr<nn::Linear> fc_;
};

std::vector<std::int64_t> read_codes(const std::string& dir) {
  std::vector<std::int64_t> codes;
  for (const char* name : {"GPL-3", "GPL-2", "LGPL-2.1", "Apache-2.0", "MPL-2.0", "GFDL-1.3"}) {
    const auto path = std::filesystem::path(dir) / name;
    std::ifstream in(path, std::ios::binary);
    MG_CHECK(in, "text: cannot read '{}' (the character-level task reads the licences every Debian system has)",
             path.string());
    for (auto it = std::istreambuf_iterator<char>(in); it != std::istreambuf_iterator<char>(); ++it)
      codes.push_back(std::min<std::int64_t>(static_cast<unsigned char>(*it), kVocabulary - 1));
  }
  return codes;
}

}  // namespace

std::shared_ptr<const Text> load_text(const std::string& dir) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Text>> cache;
  const std::lock_guard<std::mutex> lock(mutex);
  if (auto it = cache.find(dir); it != cache.end()) return it->second;
  const std::vector<std::int64_t> codes = read_codes(dir);
  const auto n = static_cast<std::int64_t>(codes.size()), train = n * 9 / 10;
  auto text = std::make_shared<Text>();
  const Tensor all = Tensor::from_vector(codes, {n});
  text->train = all.narrow(0, 0, train).clone();
  text->test = all.narrow(0, train, n - train).clone();
  return cache[dir] = text;
}

CharLmProblem::CharLmProblem(std::uint64_t seed, std::shared_ptr<const Text> text, std::int64_t batch,
                             CharLmShape shape, DType dtype)
    : seed_(seed), text_(std::move(text)), batch_(batch), shape_(shape), network_([shape](Generator& g) {
        return std::make_shared<CharModel>(shape, g);
      }) {
  MG_CHECK(dtype == DType::Float32, "the character-level problem is float32, not {}", dtype_name(dtype));
}

NamedParameters CharLmProblem::initial() const { return network_.initial(seed_); }

Tensor CharLmProblem::window_loss(const std::vector<Tensor>& params, const Tensor& codes,
                                  const std::vector<std::int64_t>& starts, Tensor* correct) const {
  const std::int64_t steps = shape_.length, batch = static_cast<std::int64_t>(starts.size());
  std::vector<std::int64_t> positions;  // (steps + 1, batch), time-major
  for (std::int64_t t = 0; t <= steps; ++t)
    for (std::int64_t start : starts) positions.push_back(start + t);
  const Tensor windows =
      index_select(codes, 0, Tensor::from_vector(positions, {(steps + 1) * batch})).reshape({steps + 1, batch});
  const Tensor scores = network_(params, windows.narrow(0, 0, steps));
  const Tensor targets = windows.narrow(0, 1, steps).reshape({steps * batch});
  if (correct) *correct = sum(eq(argmax(scores, 1), targets));
  return F::cross_entropy(scores, targets);
}

Tensor CharLmProblem::random_windows_loss(const std::vector<Tensor>& params, const Tensor& codes, std::uint64_t seed,
                                          std::int64_t step) const {
  Generator g = batch_generator(seed, step);
  const auto room = static_cast<double>(codes.numel() - shape_.length - 1);
  const std::vector<std::int64_t> starts =
      (rand({batch_}, g, DType::Float64) * room).to(DType::Int64).to_vector<std::int64_t>();
  return window_loss(params, codes, starts, nullptr);
}

Tensor CharLmProblem::loss(const std::vector<Tensor>& params, std::int64_t step) const {
  return random_windows_loss(params, text_->train, seed_, step);
}

Tensor CharLmProblem::validation_loss(const std::vector<Tensor>& params, std::int64_t step) const {
  return random_windows_loss(params, text_->test, validation_stream(seed_), step);
}

std::optional<Evaluation> CharLmProblem::evaluate(const std::vector<Tensor>& params) const {
  NoGradGuard no_grad;
  constexpr std::int64_t kWindows = 64;
  const std::int64_t room = text_->test.numel() - shape_.length - 1;
  std::vector<std::int64_t> starts;
  for (std::int64_t i = 0; i < kWindows; ++i) starts.push_back(room * i / kWindows);
  Tensor correct;
  const double loss = window_loss(params, text_->test, starts, &correct).item<double>();
  return Evaluation{loss, correct.item<double>() / static_cast<double>(kWindows * shape_.length)};
}

}  // namespace mg::optim::learned
