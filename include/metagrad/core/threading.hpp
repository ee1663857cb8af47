#pragma once

namespace mg {

// One setting for every pool: our loops, OpenBLAS and oneDNN all run on the
// same OpenMP threads, so they never oversubscribe the cores.
void set_num_threads(int n);
int get_num_threads();

}  // namespace mg
