/* sim.h - accel-bench sim: replays a workload through the cache engine's memory tier at several
 * sizes (capacity planning). */
#ifndef ACCEL_BENCH_SIM_H
#define ACCEL_BENCH_SIM_H

/* The "sim" subcommand: <argv>[0] is "sim". Returns the process exit status. */
int sim_main(int argc, char **argv);

#endif
