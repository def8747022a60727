/* team.h — the threads of the CPU backend's parallel ops (team.c).
 *
 * An op's parallel part is a body run on every thread of a team: team_run(fn, ctx, parallel) calls fn(ctx, id, nth)
 * for id = 0 .. nth - 1 on nth threads at once (the caller being thread 0), and returns when all are done. Outside
 * a pass that is an OpenMP region of ops_threads() threads, as before. Inside one (ops_pass: a decode step's
 * forward), the pass holds one OpenMP region for the whole forward and team_run posts the body to its waiting
 * threads: a post and its completion each cost one cache line's trip between the cores (about 0.2-0.5 us)
 * where entering and leaving an OpenMP region cost several us a matmul, 6-9% of a small model's decode when
 * the two cores sit on separate chiplets (docs/BENCHMARKS.md). The numbers do not change: a body sees the same
 * thread count and ids either way.
 *
 * Inside a body, team_barrier() waits until every thread of the team has reached it. An op called from inside a
 * body runs its parallel part alone on that thread. Every parallel part an op can run at decode sizes is a body;
 * the prefill-only ones (the bf16 GEMM's region) stay OpenMP regions, which inside a pass get one thread. */
#ifndef OWL_TEAM_H
#define OWL_TEAM_H

#include <stdbool.h>
#include <stddef.h>

typedef void team_fn(void *ctx, int id, int nth);

/* fn on every thread of the team where parallel (and ops_threads() > 1), else fn(ctx, 0, 1) on the caller. */
void team_run(team_fn *fn, void *ctx, bool parallel);
void team_barrier(void);

/* fn(ctx, i) for every i in [0, n): each thread of the team (where parallel) a contiguous range, in order (an
 * OpenMP static schedule's split). For the elementwise ops, whose pieces do not depend on who computes them. */
typedef void team_index_fn(const void *ctx, size_t i);
void team_for(size_t n, team_index_fn *fn, const void *ctx, bool parallel);

#endif
