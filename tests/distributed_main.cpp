// The test program of the MPI pieces: ctest runs it as one process and as
// `mpirun -np 2`. Every rank runs every case (collectives in the same
// order); the job fails when any rank does.
#define DOCTEST_CONFIG_IMPLEMENT
#include <doctest/doctest.h>

#include "metagrad/core/distributed.hpp"

int main(int argc, char** argv) {
  mg::distributed::init(argc, argv);
  doctest::Context context(argc, argv);
  if (!mg::distributed::is_main()) context.setOption("no-intro", true);
  const int failed = context.run();
  const bool any_failed = mg::distributed::all_reduce_max(failed != 0 ? 1.0 : 0.0) > 0;
  if (context.shouldExit()) return failed;
  return any_failed ? 1 : 0;
}
