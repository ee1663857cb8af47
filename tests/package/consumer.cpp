// Compiled against the install tree: uses the API names of DESIGN.md.
#include <metagrad/metagrad.hpp>

#include <cstdio>

int main() {
  mg::manual_seed(1);
  mg::Generator generator(2);
  auto a = mg::Tensor::from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  auto b = mg::Tensor::from_vector(std::vector<double>{1, 2, 3, 4, 5, 6}, {2, 3});
  auto y = mg::Tensor::from_vector(std::vector<int64_t>{0, 2}, {2});
  std::vector<float> v = a.to_vector();
  std::vector<double> w = b.to_vector<double>();
  auto x = mg::randn({3, 4}, generator).requires_grad_();
  auto h = mg::tanh(mg::matmul(a, x)) + mg::sigmoid(mg::relu(mg::sum(x, 0, true)));
  auto loss = -mg::mean(mg::gather(mg::log_softmax(h, 1), 1, y.reshape({2, 1}))) +
              mg::sum(mg::softmax(h, 1) * mg::logsumexp(h, 1, true)) * 0.0 +
              mg::mean(mg::exp(mg::log(mg::sqrt(mg::pow(h, 2.0) + 1.0))));
  loss = loss + mg::sum(mg::cat({h, mg::transpose(h, 0, 1).reshape({2, 4})}, 0)) * 0.0;
  float s = loss.item();
  loss.backward();
  auto g = mg::autograd::grad({mg::sum(x * x)}, {x}, {}, false, true);
  {
    mg::NoGradGuard guard;
    x.detach();
  }
  auto d = mg::ones({2}, mg::DType::Float64).requires_grad_();
  bool ok = mg::autograd::gradcheck([](const std::vector<mg::Tensor>& in) { return mg::sum(mg::exp(in[0])); }, {d}) &&
            mg::autograd::gradgradcheck([](const std::vector<mg::Tensor>& in) { return mg::sum(mg::exp(in[0])); }, {d});
  // nn, as DESIGN.md names it
  namespace F = mg::nn::functional;
  auto img = mg::randn({2, 3, 8, 8}, generator);
  auto cw = mg::randn({4, 3, 3, 3}, generator);
  auto feat = F::conv2d(img, cw, mg::Tensor(), 1, 1, 1, 1);
  feat = F::max_pool2d(feat, 2, 2, 0) + F::avg_pool2d(feat, 2, 2, 0);
  feat = F::batch_norm(feat, mg::zeros({4}), mg::ones({4}), mg::Tensor(), mg::Tensor(), true, 0.1, 1e-5);
  auto logits2 = F::linear(feat.flatten(1), mg::randn({3, 64}, generator), mg::Tensor());
  auto ce = F::cross_entropy(logits2, mg::Tensor::from_vector(std::vector<int64_t>{0, 2}, {2})) +
            F::mse_loss(logits2, mg::zeros_like(logits2));
  mg::nn::Sequential net({std::make_shared<mg::nn::Conv2d>(mg::nn::Conv2dOptions(3, 4, 3).padding(1)),
                          std::make_shared<mg::nn::BatchNorm2d>(4), std::make_shared<mg::nn::ReLU>(),
                          std::make_shared<mg::nn::MaxPool2d>(2), std::make_shared<mg::nn::Flatten>(),
                          std::make_shared<mg::nn::Linear>(mg::nn::LinearOptions(64, 3))});
  net.train();
  auto net_out = net(img);
  net.eval();
  mg::nn::LSTMCell cell(3, 5);
  auto state = cell.forward(mg::randn({2, 3}, generator), {});
  const std::string checkpoint = "consumer_checkpoint.mgt";
  mg::nn::save(net, checkpoint);
  mg::nn::load(net, checkpoint);
  // optim, as DESIGN.md names it
  auto opt = mg::optim::make("adam(lr=1e-3, beta1=0.9, beta2=0.999)", net.named_parameters());
  net.train();
  opt->zero_grad();
  F::cross_entropy(net(img), mg::Tensor::from_vector(std::vector<int64_t>{0, 1}, {2})).backward();
  opt->step();
  opt->step([&] {
    opt->zero_grad();
    auto l = F::cross_entropy(net(img), mg::Tensor::from_vector(std::vector<int64_t>{0, 1}, {2}));
    l.backward();
    return l;
  });
  ok = ok && !mg::optim::available().empty();
  ok = ok && net.parameters().size() == net.named_parameters().size() && !net.state_dict().empty() &&
       net_out.shape()[1] == 3 && state.h.shape()[1] == 5 && ce.numel() == 1;
  std::printf("metagrad %s loss %.4f grad %s %zu %zu %s %d\n", mg::version(), s, x.grad().defined() ? "yes" : "no",
              v.size(), w.size(), g[0].requires_grad() ? "graph" : "nograph", ok);
  return ok && x.grad().defined() && mg::zeros({1}).numel() == 1 && mg::full({1}, 2.0).item() == 2.0f &&
                 mg::ones_like(x).dim() == 2 && x.dtype() == mg::DType::Float32 && x.shape()[0] == 3
             ? 0
             : 1;
}
