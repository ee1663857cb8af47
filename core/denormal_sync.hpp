#pragma once
// For the pool of run_concurrently: its threads outlive a call to
// set_flush_denormal, so each one takes the process's mode when it picks up
// work.

namespace mg {

// Gives the calling thread and its OpenMP team the mode last set by
// set_flush_denormal, if it differs from theirs.
void sync_flush_denormal();

}  // namespace mg
