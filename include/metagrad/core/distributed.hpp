#pragma once
// Runs over several processes and machines on MPI (`mpirun -np N ...`).
// A process started without an MPI launcher, or a build without MPI, is a
// world of one: rank 0 of 1, where every collective returns its input, so
// callers never need a special case.
//
// Collectives must be called by every rank in the same order, as in MPI.
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "metagrad/core/nn_ops.hpp"
#include "metagrad/core/tensor.hpp"

namespace mg::distributed {

// Whether this build has MPI (the CMake option MG_MPI).
bool compiled();
// Joins the MPI job when an MPI launcher started this process (mpirun,
// srun); otherwise does nothing. Call once, first thing in main().
void init(int& argc, char**& argv);
// Leaves the MPI job (also done at exit).
void finalize();

int rank();
int world_size();
inline bool is_main() { return rank() == 0; }

// Ends the whole job: prints "rank R of N: MESSAGE" and makes every rank
// exit with `code` (MPI_Abort). In a world of one, just exits.
[[noreturn]] void abort(const std::string& message, int code = 1);

void barrier();
// Sums `t` over ranks in place (no autograd).
void all_reduce_(Tensor& t);
std::vector<double> all_reduce(std::vector<double> values);
double all_reduce_max(double value);
// The differentiable sum over ranks: its backward sums the incoming
// gradients over ranks, so a loss that depends on every rank's data through
// it gets the gradient of the sum of all ranks' losses, to any order.
Tensor all_reduce(const Tensor& x);
// Copies root's values into `tensors` on every rank (shapes must agree).
void broadcast_(std::vector<Tensor>& tensors, int root = 0);
std::string broadcast(const std::string& text, int root = 0);
// Every rank's `text`, in rank order, on every rank.
std::vector<std::string> all_gather(const std::string& text);

// The processes one piece of work spans: every rank of the job, or this
// process alone (a run `spread` gave to this rank, say). Its collectives are
// the job's in the first case and leave their input as it is in the second.
class Ranks {
 public:
  explicit Ranks(bool every_rank = true) : parallel_(every_rank && world_size() > 1) {}
  bool parallel() const { return parallel_; }  // more than one process
  int rank() const { return parallel_ ? distributed::rank() : 0; }
  int size() const { return parallel_ ? world_size() : 1; }
  bool is_main() const { return rank() == 0; }
  std::vector<double> sum(std::vector<double> values) const;
  double max(double value) const;
  void barrier() const;

 private:
  bool parallel_;
};

// Runs `count` independent jobs over the ranks, job i on rank i % N, each
// rank's jobs concurrently on its cores (run_concurrently: a job must not
// call collectives), and returns every job's result on every rank, in job
// order. Results are text (JSON, say) so that one rank can read another's.
std::vector<std::string> spread(std::size_t count, const std::function<std::string(std::size_t)>& job);

// The part [begin, end) of `n` items that `rank` of `ranks` takes: shares
// differ by at most one, lower ranks take the larger ones, in order.
struct Range {
  std::int64_t begin, end;
};
Range shard(std::int64_t n, int rank, int ranks);

// Training-mode batch normalisation whose statistics are those of the
// union of every rank's batch: the fused kernels all-reduce their
// per-channel sums (one small message forward, one backward), and with
// create_graph the differentiable ops go through all_reduce, so gradients
// of any order are those of the whole batch in one process (weight and
// bias get this rank's part of theirs). Updates the running statistics
// identically on every rank.
Tensor synchronized_batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& weight, const Tensor& bias, double momentum, double eps,
                               const BatchNormEpilogue& then = {});

// Sums the gradients of `parameters` over ranks after each backward pass.
// Gradients are packed into buckets of about `bucket_bytes`; a bucket's
// all-reduce starts as soon as backward has produced the last gradient in
// it, so communication overlaps the rest of the pass. Buckets start in a
// fixed order on every rank whatever order gradients arrive in.
class GradientReducer {
 public:
  explicit GradientReducer(std::vector<Tensor> parameters, std::size_t bucket_bytes = std::size_t{256} << 10);
  ~GradientReducer();
  GradientReducer(const GradientReducer&) = delete;
  GradientReducer& operator=(const GradientReducer&) = delete;

  // Waits for every bucket (sending zeros for a parameter backward never
  // reached) and writes the sums into the parameters' grad().
  void finish();

  struct Timing {
    std::int64_t passes = 0, buckets = 0;
    double bytes = 0;
    double communication_s = 0;  // from the first bucket's start until every sum is in
    double exposed_s = 0;        // of which spent in finish(), after backward: the rest was hidden behind it
  };
  const Timing& timing() const { return timing_; }

 private:
  struct Bucket;
  void on_gradient(std::size_t parameter);
  void start_ready_buckets();
  void progress();

  std::vector<Tensor> parameters_;
  std::vector<std::uint64_t> hook_ids_;
  std::vector<Bucket> buckets_;
  std::vector<std::size_t> bucket_of_;  // per parameter
  std::size_t next_to_start_ = 0;
  double first_start_ = -1;
  Timing timing_;
};

}  // namespace mg::distributed
