/* team.c — the threads of the CPU backend's parallel ops (team.h): OpenMP regions, or a pass's held team.
 *
 * A pass (ops_pass) opens one OpenMP region: thread 0 runs the forward, the others wait in team_wait for bodies.
 * A post is three stores and a release increment of gen on thread 0; its end, one release increment of done per
 * other thread. Waiting threads spin with the CPU's pause hint, and give the core away (sched_yield) after
 * SPIN_YIELD rounds, so a forward's long serial stretch, or more threads than cores, does not starve the thread
 * doing the work. Between passes the threads are OpenMP's, idle by its wait policy. */
#include "backend/team.h"

#include <omp.h>
#include <sched.h>
#include <stdatomic.h>

#include "backend/ops.h"

struct team {
    _Alignas(64) _Atomic unsigned gen; /* bumped by thread 0 to post a body, or to end the pass */
    team_fn *fn;
    void *ctx;
    int nth;
    bool quit;
    _Alignas(64) _Atomic int done; /* threads other than 0 done with the body posted last */
    _Alignas(64) _Atomic int bar_count;
    _Atomic unsigned bar_gen;
};

static _Thread_local struct team *t_pass; /* thread 0 of a pass: its team */
static _Thread_local struct team *t_body; /* the pass team whose body this thread runs (NULL: none) */
static _Thread_local bool t_alone;        /* this thread runs a body by itself (team_run not parallel) */

enum { SPIN_YIELD = 1 << 20 };

static void relax(unsigned *spins)
{
    if (++*spins < SPIN_YIELD) {
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#elif defined(__aarch64__)
        __asm__ volatile("yield");
#endif
    } else
        sched_yield();
}

static void run_alone(team_fn *fn, void *ctx)
{
    const bool was = t_alone;
    t_alone = true;
    fn(ctx, 0, 1);
    t_alone = was;
}

void team_run(team_fn *fn, void *ctx, bool parallel)
{
    struct team *t = t_pass;
    const int n = ops_threads();
    if (!parallel || n <= 1 || t_body || t_alone || (t && t->nth <= 1)) {
        run_alone(fn, ctx);
        return;
    }
    if (!t) {
#pragma omp parallel num_threads(n)
        fn(ctx, omp_get_thread_num(), omp_get_num_threads());
        return;
    }
    t->fn = fn;
    t->ctx = ctx;
    atomic_store_explicit(&t->done, 0, memory_order_relaxed);
    atomic_fetch_add_explicit(&t->gen, 1, memory_order_release);
    t_body = t;
    fn(ctx, 0, t->nth);
    t_body = NULL;
    for (unsigned s = 0; atomic_load_explicit(&t->done, memory_order_acquire) < t->nth - 1;)
        relax(&s);
}

void team_barrier(void)
{
    struct team *t = t_body;
    if (t_alone)
        return;
    if (!t) {
#pragma omp barrier
        return;
    }
    const unsigned g = atomic_load_explicit(&t->bar_gen, memory_order_acquire);
    if (atomic_fetch_add_explicit(&t->bar_count, 1, memory_order_acq_rel) == t->nth - 1) {
        atomic_store_explicit(&t->bar_count, 0, memory_order_relaxed);
        atomic_fetch_add_explicit(&t->bar_gen, 1, memory_order_release);
    } else
        for (unsigned s = 0; atomic_load_explicit(&t->bar_gen, memory_order_acquire) == g;)
            relax(&s);
}

struct team_for {
    team_index_fn *fn;
    const void *ctx;
    size_t n;
};

static void team_for_body(void *ctx, int id, int nth)
{
    const struct team_for *c = ctx;
    for (size_t i = c->n * (size_t)id / (size_t)nth; i < c->n * (size_t)(id + 1) / (size_t)nth; i++)
        c->fn(c->ctx, i);
}

void team_for(size_t n, team_index_fn *fn, const void *ctx, bool parallel)
{
    team_run(team_for_body, &(struct team_for){fn, ctx, n}, parallel && n > 1);
}

/* A thread other than 0: each body posted, until the pass ends. */
static void team_wait(struct team *t, int id)
{
    for (unsigned seen = 0;;) {
        unsigned g, s = 0;
        while ((g = atomic_load_explicit(&t->gen, memory_order_acquire)) == seen)
            relax(&s);
        seen = g;
        if (t->quit)
            return;
        t_body = t;
        t->fn(t->ctx, id, t->nth);
        t_body = NULL;
        atomic_fetch_add_explicit(&t->done, 1, memory_order_release);
    }
}

void ops_pass(void (*fn)(void *ctx), void *ctx)
{
    const int n = ops_threads();
    /* no pass inside another, inside an OpenMP region, or with more threads than cores (spinning threads would
     * take turns on a core: the OpenMP regions' own waits handle that) */
    if (n <= 1 || t_pass || t_body || t_alone || omp_in_parallel() || n > omp_get_num_procs()) {
        fn(ctx);
        return;
    }
    struct team t = {.nth = 1};
    atomic_init(&t.gen, 0);
    atomic_init(&t.done, 0);
    atomic_init(&t.bar_count, 0);
    atomic_init(&t.bar_gen, 0);
#pragma omp parallel num_threads(n)
    {
        if (omp_get_thread_num() == 0) {
            t.nth = omp_get_num_threads();
            t_pass = &t;
            fn(ctx);
            t_pass = NULL;
            t.quit = true;
            atomic_fetch_add_explicit(&t.gen, 1, memory_order_release);
        } else
            team_wait(&t, omp_get_thread_num());
    }
}
