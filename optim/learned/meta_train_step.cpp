// One meta-training step on a meta-batch (optimizers.md 5.3 and 10.2): its
// runs advance concurrently a truncation at a time, and the meta-optimizer
// steps on their mean meta-gradient, summed in problem order over every
// rank.
#include <algorithm>
#include <cmath>

#include "core/check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/concurrent.hpp"
#include "metagrad/core/ops.hpp"
#include "metagrad/optim/learned/meta_train.hpp"

namespace mg::optim::learned {
namespace {

// The mean of a meta-batch's values over every rank's `active` runs (the
// others give zeros), summed in problem order (rank r's k-th problem is
// number r * K + k), so that the bits do not depend on how the problems are
// split over ranks: each rank contributes its rows to a sum that is zero
// elsewhere (adding zeros is exact), then every rank adds the rows in order.
Tensor meta_batch_mean(const std::vector<Tensor>& mine, const distributed::Ranks& ranks, double active) {
  NoGradGuard no_grad;
  const auto k = static_cast<std::int64_t>(mine.size());
  if (!ranks.parallel() && k == 1) return mine.front();
  std::vector<Tensor> rows = mine;
  if (ranks.parallel()) {
    const Shape shape = mine.front().shape();
    Tensor all = zeros({ranks.size() * k, mine.front().numel()}, mine.front().dtype());
    for (std::int64_t i = 0; i < k; ++i)
      all.narrow(0, ranks.rank() * k + i, 1).copy_(mine[static_cast<std::size_t>(i)].reshape({1, -1}));
    distributed::all_reduce_(all);
    rows.clear();
    for (std::int64_t i = 0; i < all.size(0); ++i) rows.push_back(all.narrow(0, i, 1).reshape(shape));
  }
  Tensor total = rows.front();
  for (std::size_t i = 1; i < rows.size(); ++i) total = total + rows[i];
  return total / active;
}

double meta_batch_mean(const std::vector<double>& mine, const distributed::Ranks& ranks, double active) {
  std::vector<double> all(static_cast<std::size_t>(ranks.size()) * mine.size(), 0.0);
  std::copy(mine.begin(), mine.end(), all.begin() + static_cast<std::ptrdiff_t>(ranks.rank() * mine.size()));
  all = ranks.sum(all);
  double total = 0;
  for (double v : all) total += v;
  return total / active;
}

}  // namespace

MetaStepResult meta_train_step(const std::vector<MetaBatchProblem>& problems, LearnedOptimizer& learned,
                               Optimizer& meta_optimizer, const MetaGradientEstimator& estimator,
                               const distributed::Ranks& ranks, std::uint64_t epoch, const MetaUpdateOptions& update) {
  MG_CHECK(!problems.empty(), "meta-train: a meta-batch needs at least one problem");
  MG_CHECK(update.clip >= 0, "meta-train: the meta-gradient clip must be 0 (off) or positive, not {}", update.clip);
  const auto k = static_cast<std::int64_t>(problems.size());
  NamedParameters& meta = learned.meta_parameters();
  std::vector<std::unique_ptr<MetaGradientEstimator::Run>> runs(problems.size());
  run_concurrently(k, [&](std::int64_t i) {
    const auto index =
        static_cast<std::uint64_t>((static_cast<std::int64_t>(epoch) * ranks.size() + ranks.rank()) * k + i);
    const MetaBatchProblem& p = problems[static_cast<std::size_t>(i)];
    runs[static_cast<std::size_t>(i)] = estimator.start(*p.problem, p.horizon, index, learned);
  });
  const std::int64_t parts = runs.front()->parts();
  MetaStepResult result;
  std::int64_t truncations = 0;
  for (;; ++truncations) {
    std::vector<std::size_t> going;  // the runs that have not ended, in order
    for (std::size_t i = 0; i < runs.size(); ++i)
      if (!runs[i]->done()) going.push_back(i);
    const double active = ranks.sum({static_cast<double>(going.size())})[0];
    if (active == 0) break;
    const auto n = static_cast<std::int64_t>(going.size());
    run_concurrently(n * parts,
                     [&](std::int64_t j) { runs[going[static_cast<std::size_t>(j / parts)]]->advance(j % parts); });
    std::vector<TruncationEstimate> estimates(runs.size());
    for (std::size_t i : going) estimates[i] = runs[i]->estimate();
    std::vector<Tensor> gradients;
    bool finite = true;
    for (std::size_t i = 0; i < meta.size(); ++i) {
      std::vector<Tensor> rows;
      for (const auto& estimate : estimates)
        rows.push_back(estimate.meta_gradients.empty() ? zeros_like(meta[i].second.detach())
                                                       : estimate.meta_gradients.at(i));
      Tensor gradient = meta_batch_mean(rows, ranks, active);
      const auto norm = sum(gradient * gradient).item<double>();
      MG_CHECK(std::isfinite(norm) || update.skip_non_finite, "the meta-gradient of '{}' is not finite", meta[i].first);
      finite = finite && std::isfinite(norm);
      if (update.clip > 0) gradient = clamp(gradient, -update.clip, update.clip);
      gradients.push_back(gradient);
    }
    if (finite) {
      meta_optimizer.zero_grad();
      for (std::size_t i = 0; i < meta.size(); ++i) meta[i].second.set_grad(gradients[i]);
      meta_optimizer.step();
      ++result.updates;
    } else {
      ++result.skipped;
    }
    std::vector<double> losses;
    for (const auto& estimate : estimates) losses.push_back(estimate.meta_loss);
    result.meta_loss += meta_batch_mean(losses, ranks, active);
  }
  result.meta_loss /= static_cast<double>(std::max<std::int64_t>(truncations, 1));
  return result;
}

}  // namespace mg::optim::learned
