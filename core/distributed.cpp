#include "metagrad/core/distributed.hpp"

#include "metagrad/core/concurrent.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>

#ifdef MG_HAS_MPI
#include <mpi.h>
#endif

#include "check.hpp"
#include "metagrad/core/autograd/grad_mode.hpp"
#include "metagrad/core/autograd/node.hpp"
#include "metagrad/core/nn_ops.hpp"
#include "metagrad/core/ops.hpp"
#include "ops/batch_norm.hpp"
#include "tensor_impl.hpp"

namespace mg::distributed {
namespace {

double now_s() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// A process an MPI launcher started says so in its environment (Open MPI,
// MPICH / Slurm's PMI, PMIx).
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"})
    if (const char* value = std::getenv(name)) return std::max(1, std::atoi(value));
  return std::getenv("PMIX_RANK") ? 2 : 0;
}

struct World {
  bool joined = false;
  int rank = 0, size = 1;
#ifdef MG_HAS_MPI
  MPI_Comm gradients = MPI_COMM_NULL;  // the reducer's own, so its buckets never interleave with other collectives
#endif
};

World& world() {
  static World instance;
  return instance;
}

bool multi_rank() { return world().size > 1; }

// `t` as a dense buffer MPI can read and write: itself when contiguous,
// else a contiguous copy to write back with done().
struct Buffer {
  explicit Buffer(const Tensor& t) : target(t.detach()), data(target.is_contiguous() ? target : target.contiguous()) {}
  void* pointer() const { return data.impl()->data(); }
  int count() const {
    MG_CHECK(data.numel() <= INT32_MAX, "distributed: a tensor of {} elements is larger than one MPI message",
             data.numel());
    return static_cast<int>(data.numel());
  }
  void done() {
    if (data.impl() != target.impl()) target.copy_(data);
    target.impl()->storage->bump_version();
  }
  Tensor target, data;
};

#ifdef MG_HAS_MPI
MPI_Datatype mpi_type(DType dtype) {
  switch (dtype) {
    case DType::Float32:
      return MPI_FLOAT;
    case DType::Float64:
      return MPI_DOUBLE;
    case DType::Int64:
      return MPI_INT64_T;
  }
  throw Error("distributed: unsupported dtype");
}
#endif

}  // namespace

bool compiled() {
#ifdef MG_HAS_MPI
  return true;
#else
  return false;
#endif
}

void init(int& argc, char**& argv) {
  const int launched = launcher_world_size();
#ifdef MG_HAS_MPI
  World& w = world();
  if (w.joined || launched == 0) return;
  int provided = 0;
  MPI_Init_thread(&argc, &argv, MPI_THREAD_SERIALIZED, &provided);
  w.joined = true;
  MPI_Comm_rank(MPI_COMM_WORLD, &w.rank);
  MPI_Comm_size(MPI_COMM_WORLD, &w.size);
  MPI_Comm_dup(MPI_COMM_WORLD, &w.gradients);
  std::atexit([] { finalize(); });
#else
  (void)argc;
  (void)argv;
  MG_CHECK(launched <= 1,
           "this metagrad was built without MPI but started as one of {} ranks; install libopenmpi-dev and "
           "rebuild (cmake -DMG_MPI=ON) to run under mpirun",
           launched);
#endif
}

void finalize() {
#ifdef MG_HAS_MPI
  World& w = world();
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!w.joined || finalized) return;
  MPI_Comm_free(&w.gradients);
  MPI_Finalize();
#endif
}

int rank() { return world().rank; }
int world_size() { return world().size; }

void abort(const std::string& message, int code) {
  std::fprintf(stderr, "metagrad: rank %d of %d: %s\n", rank(), world_size(), message.c_str());
  std::fflush(stderr);
#ifdef MG_HAS_MPI
  if (world().joined) MPI_Abort(MPI_COMM_WORLD, code);
#endif
  std::exit(code);
}

void barrier() {
#ifdef MG_HAS_MPI
  if (multi_rank()) MPI_Barrier(MPI_COMM_WORLD);
#endif
}

void all_reduce_(Tensor& t) {
#ifdef MG_HAS_MPI
  if (!multi_rank()) return;
  Buffer buffer(t);
  MPI_Allreduce(MPI_IN_PLACE, buffer.pointer(), buffer.count(), mpi_type(t.dtype()), MPI_SUM, MPI_COMM_WORLD);
  buffer.done();
#else
  (void)t;
#endif
}

std::vector<double> all_reduce(std::vector<double> values) {
#ifdef MG_HAS_MPI
  if (multi_rank())
    MPI_Allreduce(MPI_IN_PLACE, values.data(), static_cast<int>(values.size()), MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
#endif
  return values;
}

double all_reduce_max(double value) {
#ifdef MG_HAS_MPI
  if (multi_rank()) MPI_Allreduce(MPI_IN_PLACE, &value, 1, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
#endif
  return value;
}

Tensor all_reduce(const Tensor& x) {
  if (!multi_rank()) return x;
  Tensor sum = x.detach().clone();
  all_reduce_(sum);
  return autograd::record("all_reduce", {x}, sum,
                          [](const autograd::BackwardArgs& in) { return autograd::Grads{all_reduce(in.grad)}; });
}

void broadcast_(std::vector<Tensor>& tensors, int root) {
#ifdef MG_HAS_MPI
  if (!multi_rank()) return;
  for (Tensor& t : tensors) {
    Buffer buffer(t);
    MPI_Bcast(buffer.pointer(), buffer.count(), mpi_type(t.dtype()), root, MPI_COMM_WORLD);
    buffer.done();
  }
#else
  (void)tensors;
  (void)root;
#endif
}

std::string broadcast(const std::string& text, int root) {
  std::string result = text;
#ifdef MG_HAS_MPI
  if (!multi_rank()) return result;
  long long size = static_cast<long long>(text.size());
  MPI_Bcast(&size, 1, MPI_LONG_LONG, root, MPI_COMM_WORLD);
  result.resize(static_cast<std::size_t>(size));
  MPI_Bcast(result.data(), static_cast<int>(size), MPI_CHAR, root, MPI_COMM_WORLD);
#else
  (void)root;
#endif
  return result;
}

std::vector<std::string> all_gather(const std::string& text) {
#ifdef MG_HAS_MPI
  if (multi_rank()) {
    const int ranks = world_size();
    int size = static_cast<int>(text.size());
    std::vector<int> sizes(static_cast<std::size_t>(ranks)), offsets(static_cast<std::size_t>(ranks), 0);
    MPI_Allgather(&size, 1, MPI_INT, sizes.data(), 1, MPI_INT, MPI_COMM_WORLD);
    for (int r = 1; r < ranks; ++r) offsets[r] = offsets[r - 1] + sizes[r - 1];
    std::string all(static_cast<std::size_t>(offsets.back() + sizes.back()), '\0');
    MPI_Allgatherv(text.data(), size, MPI_CHAR, all.data(), sizes.data(), offsets.data(), MPI_CHAR, MPI_COMM_WORLD);
    std::vector<std::string> texts;
    for (int r = 0; r < ranks; ++r) texts.push_back(all.substr(offsets[r], sizes[r]));
    return texts;
  }
#endif
  return {text};
}

std::vector<double> Ranks::sum(std::vector<double> values) const {
  return parallel_ ? all_reduce(std::move(values)) : values;
}

double Ranks::max(double value) const { return parallel_ ? all_reduce_max(value) : value; }

void Ranks::barrier() const {
  if (parallel_) distributed::barrier();
}

std::vector<std::string> spread(std::size_t count, const std::function<std::string(std::size_t)>& job) {
  const auto ranks = static_cast<std::size_t>(world_size()), me = static_cast<std::size_t>(rank());
  std::vector<std::string> results(count);
  const auto mine = static_cast<std::int64_t>(count > me ? (count - me + ranks - 1) / ranks : 0);
  run_concurrently(mine, [&](std::int64_t j) {
    const std::size_t i = me + static_cast<std::size_t>(j) * ranks;
    results[i] = job(i);
  });
  for (std::size_t i = 0; i < count; ++i) results[i] = broadcast(results[i], static_cast<int>(i % ranks));
  return results;
}

Range shard(std::int64_t n, int rank, int ranks) {
  MG_CHECK(ranks >= 1 && rank >= 0 && rank < ranks, "shard: rank {} of {} ranks", rank, ranks);
  const std::int64_t base = n / ranks, extra = n % ranks;
  const std::int64_t begin = rank * base + std::min<std::int64_t>(rank, extra);
  return {begin, begin + base + (rank < extra ? 1 : 0)};
}

Tensor synchronized_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& weight, const Tensor& bias, double momentum, double eps,
                               const BatchNormEpilogue& then) {
  if (!multi_rank()) return batch_norm(x, running_mean, running_var, weight, bias, true, momentum, eps, then);
  const ProcessSums over_ranks{[](std::vector<double>& values) { values = all_reduce(std::move(values)); },
                               [](const Tensor& t) { return all_reduce(t); }};
  return batch_norm_training(x, running_mean, running_var, weight, bias, momentum, eps, &over_ranks, then);
}

// ---- GradientReducer ----

struct GradientReducer::Bucket {
  std::vector<std::size_t> members;  // parameter indices
  std::vector<std::int64_t> offsets;
  Tensor buffer;  // flat, the members' dtype
  std::size_t pending = 0;
  bool started = false;
#ifdef MG_HAS_MPI
  MPI_Request request = MPI_REQUEST_NULL;
#endif
};

GradientReducer::GradientReducer(std::vector<Tensor> parameters, std::size_t bucket_bytes)
    : parameters_(std::move(parameters)), bucket_of_(parameters_.size()) {
  if (!multi_rank()) return;
  // Backward produces the last layers' gradients first: fill buckets from the end.
  std::size_t bytes = 0;
  for (std::size_t i = parameters_.size(); i-- > 0;) {
    const Tensor& p = parameters_[i];
    MG_CHECK(p.defined() && p.requires_grad() && p.is_leaf(),
             "GradientReducer: parameter {} is not a leaf that requires grad", i);
    const std::size_t size = static_cast<std::size_t>(p.numel()) * element_size(p.dtype());
    const bool fits = !buckets_.empty() && parameters_[buckets_.back().members.front()].dtype() == p.dtype() &&
                      bytes + size <= bucket_bytes;
    if (!fits) {
      buckets_.emplace_back();
      bytes = 0;
    }
    Bucket& bucket = buckets_.back();
    bucket.offsets.push_back(
        bucket.members.empty() ? 0 : bucket.offsets.back() + parameters_[bucket.members.back()].numel());
    bucket.members.push_back(i);
    bytes += size;
    bucket_of_[i] = buckets_.size() - 1;
  }
  for (Bucket& bucket : buckets_) {
    const Tensor& last = parameters_[bucket.members.back()];
    bucket.buffer = Tensor::empty({bucket.offsets.back() + last.numel()}, last.dtype());
    bucket.pending = bucket.members.size();
  }
  for (std::size_t i = 0; i < parameters_.size(); ++i)
    hook_ids_.push_back(parameters_[i].add_grad_accumulated_hook([this, i](const Tensor&) { on_gradient(i); }));
}

GradientReducer::~GradientReducer() {
  for (std::size_t i = 0; i < hook_ids_.size(); ++i) parameters_[i].remove_grad_accumulated_hook(hook_ids_[i]);
#ifdef MG_HAS_MPI
  for (Bucket& bucket : buckets_)
    if (bucket.request != MPI_REQUEST_NULL) MPI_Wait(&bucket.request, MPI_STATUS_IGNORE);
#endif
}

void GradientReducer::on_gradient(std::size_t parameter) {
  Bucket& bucket = buckets_[bucket_of_[parameter]];
  MG_CHECK(!bucket.started && bucket.pending > 0,
           "GradientReducer: parameter {} got a second gradient before finish(); call finish() after every "
           "backward pass",
           parameter);
  --bucket.pending;
  start_ready_buckets();
  progress();
}

void GradientReducer::start_ready_buckets() {
  NoGradGuard no_grad;
  while (next_to_start_ < buckets_.size() && buckets_[next_to_start_].pending == 0) {
    Bucket& bucket = buckets_[next_to_start_++];
    for (std::size_t k = 0; k < bucket.members.size(); ++k) {
      const Tensor& p = parameters_[bucket.members[k]];
      Tensor slot = bucket.buffer.narrow(0, bucket.offsets[k], p.numel()).view(p.shape());
      if (p.grad().defined())
        slot.copy_(p.grad().detach());
      else
        slot.copy_(zeros_like(slot));  // this rank's loss does not reach p
    }
    if (first_start_ < 0) first_start_ = now_s();
    bucket.started = true;
    ++timing_.buckets;
    timing_.bytes +=
        static_cast<double>(bucket.buffer.numel() * static_cast<std::int64_t>(element_size(bucket.buffer.dtype())));
#ifdef MG_HAS_MPI
    Buffer buffer(bucket.buffer);
    MPI_Iallreduce(MPI_IN_PLACE, buffer.pointer(), buffer.count(), mpi_type(bucket.buffer.dtype()), MPI_SUM,
                   world().gradients, &bucket.request);
#endif
  }
}

// Open MPI moves a non-blocking collective along only inside MPI calls.
void GradientReducer::progress() {
#ifdef MG_HAS_MPI
  for (Bucket& bucket : buckets_) {
    if (bucket.request == MPI_REQUEST_NULL) continue;
    int done = 0;
    MPI_Test(&bucket.request, &done, MPI_STATUS_IGNORE);
  }
#endif
}

void GradientReducer::finish() {
  if (!multi_rank()) return;
  const double start = now_s();
  if (first_start_ < 0) first_start_ = start;  // nothing started during backward
  for (Bucket& bucket : buckets_) bucket.pending = 0;
  start_ready_buckets();
  NoGradGuard no_grad;
  for (Bucket& bucket : buckets_) {
#ifdef MG_HAS_MPI
    MPI_Wait(&bucket.request, MPI_STATUS_IGNORE);
#endif
    for (std::size_t k = 0; k < bucket.members.size(); ++k) {
      Tensor p = parameters_[bucket.members[k]];
      const Tensor slot = bucket.buffer.narrow(0, bucket.offsets[k], p.numel()).view(p.shape());
      if (p.grad().defined())
        p.grad().detach().copy_(slot);
      else
        p.set_grad(slot.clone());
    }
    bucket.pending = bucket.members.size();
    bucket.started = false;
  }
  const double end = now_s();
  timing_.exposed_s += end - start;
  timing_.communication_s += end - first_start_;
  ++timing_.passes;
  next_to_start_ = 0;
  first_start_ = -1;
}

}  // namespace mg::distributed
