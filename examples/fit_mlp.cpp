// Fits an MLP with plain SGD to a synthetic classification task: labels come
// from a fixed random "teacher" network, so the task is learnable exactly.
// Prints the training loss falling and the held-out accuracy rising.
#include <metagrad/metagrad.hpp>

#include <cmath>
#include <cstdio>

namespace {

constexpr std::int64_t kFeatures = 20, kHidden = 64, kClasses = 4;

struct Mlp {
  mg::Tensor w1, b1, w2, b2;

  explicit Mlp(mg::Generator& g)
      : w1(mg::randn({kFeatures, kHidden}, g) * (1.0 / std::sqrt(kFeatures))),
        b1(mg::zeros({kHidden})),
        w2(mg::randn({kHidden, kClasses}, g) * (1.0 / std::sqrt(kHidden))),
        b2(mg::zeros({kClasses})) {
    for (auto* p : {&w1, &b1, &w2, &b2}) p->requires_grad_();
  }
  mg::Tensor logits(const mg::Tensor& x) const { return mg::matmul(mg::tanh(mg::matmul(x, w1) + b1), w2) + b2; }
  void sgd_step(double lr) {
    mg::NoGradGuard no_grad;
    for (auto* p : {&w1, &b1, &w2, &b2}) {
      p->copy_(*p - p->grad() * lr);
      p->set_grad(mg::Tensor());
    }
  }
};

mg::Tensor cross_entropy(const mg::Tensor& logits, const mg::Tensor& labels) {
  return -mg::mean(mg::gather(mg::log_softmax(logits, 1), 1, labels.reshape({-1, 1})));
}

double accuracy(const mg::Tensor& logits, const mg::Tensor& labels) {
  return mg::mean(mg::eq(mg::argmax(logits, 1), labels).to(mg::DType::Float32)).item<double>();
}

}  // namespace

int main() {
  mg::Generator g(2026);
  // The teacher labels 4096 training and 1024 test points.
  const mg::Tensor teacher = mg::randn({kFeatures, kClasses}, g);
  const mg::Tensor x_train = mg::randn({4096, kFeatures}, g), x_test = mg::randn({1024, kFeatures}, g);
  const mg::Tensor y_train = mg::argmax(mg::matmul(x_train, teacher), 1);
  const mg::Tensor y_test = mg::argmax(mg::matmul(x_test, teacher), 1);

  Mlp model(g);
  constexpr std::int64_t kBatch = 128;
  std::printf("metagrad %s: MLP %lld-%lld-%lld, plain SGD (lr 0.5), batch %lld\n", mg::version(),
              static_cast<long long>(kFeatures), static_cast<long long>(kHidden), static_cast<long long>(kClasses),
              static_cast<long long>(kBatch));
  std::printf("%6s %12s %14s\n", "epoch", "train loss", "test accuracy");
  for (int epoch = 1; epoch <= 20; ++epoch) {
    double total = 0;
    int batches = 0;
    for (std::int64_t start = 0; start < x_train.size(0); start += kBatch) {
      const mg::Tensor loss =
          cross_entropy(model.logits(x_train.narrow(0, start, kBatch)), y_train.narrow(0, start, kBatch));
      loss.backward();
      model.sgd_step(0.5);
      total += loss.item<double>();
      ++batches;
    }
    if (epoch == 1 || epoch % 4 == 0) {
      mg::NoGradGuard no_grad;
      std::printf("%6d %12.4f %13.1f%%\n", epoch, total / batches, 100 * accuracy(model.logits(x_test), y_test));
    }
  }
  return 0;
}
