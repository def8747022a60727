/* test_team.c — the ops' threads (backend/team.h): team_run gives every thread of the team one call with its own id
 * and the team's size, outside a pass (OpenMP regions) and inside one (ops_pass: bodies posted to held threads),
 * thousands of posts in a row; team_barrier makes every thread's writes before it visible to all after it; a body
 * that calls team_run, a pass inside a pass and a pass with more threads than cores run alone or directly;
 * team_for visits every index once, in order within a thread; and a decode-sized matmul, attention, norm and
 * SwiGLU give the same bits inside a pass as outside. */
#include <math.h>
#include <omp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ops.h"
#include "backend/team.h"
#include "kernels/kernels.h"
#include "test_util.h"

enum { MAX_T = 64 };

struct seen {
    atomic_int calls[MAX_T];
    atomic_int bad; /* a call with an id out of range, or a size other than the team's */
    int want_nth;
    int slot[MAX_T]; /* team_barrier check: each thread's round, written before the barrier */
    int round;
    atomic_int stale; /* a slot still holding an earlier round after the barrier */
    atomic_int inner_nth;
};

static void count_body(void *ctx, int id, int nth)
{
    struct seen *s = ctx;
    if (id < 0 || id >= nth || nth > MAX_T || nth != s->want_nth)
        atomic_fetch_add(&s->bad, 1);
    else
        atomic_fetch_add(&s->calls[id], 1);
}

static void barrier_body(void *ctx, int id, int nth)
{
    struct seen *s = ctx;
    for (int k = 0; k < 3; k++) { /* three barriers a body: the barrier's generations turn over */
        s->slot[id] = s->round * 4 + k;
        team_barrier();
        for (int i = 0; i < nth; i++)
            if (s->slot[i] != s->round * 4 + k)
                atomic_fetch_add(&s->stale, 1);
        team_barrier();
    }
}

static void inner_body(void *ctx, int id, int nth)
{
    (void)id, (void)nth;
    struct seen *s = ctx;
    atomic_store(&s->inner_nth, nth);
}

static void nesting_body(void *ctx, int id, int nth)
{
    (void)nth;
    if (id == 0) /* a body's own team_run runs alone on its thread */
        team_run(inner_body, ctx, true);
}

static void expect_once_each(struct seen *s, int nth, const char *where)
{
    CHECK_MSG(atomic_load(&s->bad) == 0, "%s: %d calls with a wrong id or size", where, atomic_load(&s->bad));
    for (int i = 0; i < nth; i++)
        CHECK_MSG(atomic_load(&s->calls[i]) == 1, "%s: thread %d called %d times", where, i,
                  atomic_load(&s->calls[i]));
}

static void reset(struct seen *s, int nth)
{
    for (int i = 0; i < MAX_T; i++)
        atomic_store(&s->calls[i], 0);
    atomic_store(&s->bad, 0);
    s->want_nth = nth;
}

/* team_for: every index once, and (parallel, two or more indices) some on a thread other than the caller. */
enum { FOR_N = 1000 };
struct for_seen {
    atomic_int hits[FOR_N];
    atomic_int elsewhere; /* indices run on another thread than the caller's */
    pthread_t caller;
};

static void for_index(const void *ctx, size_t i)
{
    struct for_seen *f = (struct for_seen *)ctx;
    atomic_fetch_add(&f->hits[i], 1);
    if (!pthread_equal(pthread_self(), f->caller))
        atomic_fetch_add(&f->elsewhere, 1);
}

static void expect_for(size_t n, bool parallel, const char *where)
{
    struct for_seen *f = calloc(1, sizeof *f);
    f->caller = pthread_self();
    team_for(n, for_index, f, parallel);
    int wrong = 0;
    for (size_t i = 0; i < FOR_N; i++)
        wrong += atomic_load(&f->hits[i]) != (i < n ? 1 : 0);
    CHECK_MSG(wrong == 0, "%s: team_for(%zu) visited %d indices a wrong number of times", where, n, wrong);
    const bool shared = parallel && n > 1 && ops_threads() > 1;
    CHECK_MSG((atomic_load(&f->elsewhere) > 0) == shared, "%s: team_for(%zu): %d indices on other threads", where, n,
              atomic_load(&f->elsewhere));
    free(f);
}

/* Inside a pass: posts and barriers, many in a row, and nesting. */
struct pass_ctx {
    struct seen *s;
    int nth;
    int posts;
};

static void pass_fn(void *ctx)
{
    struct pass_ctx *p = ctx;
    struct seen *s = p->s;
    for (int r = 0; r < p->posts; r++) {
        reset(s, p->nth);
        team_run(count_body, s, true);
        expect_once_each(s, p->nth, "pass post");
        s->round = r;
        team_run(barrier_body, s, true);
    }
    reset(s, 1);
    team_run(count_body, s, false); /* not parallel: the caller alone, its barriers no-ops (not the pass's) */
    expect_once_each(s, 1, "pass, not parallel");
    s->round = p->posts;
    team_run(barrier_body, s, false);
    expect_for(FOR_N, true, "pass");
    expect_for(1, true, "pass, one index");
    expect_for(0, true, "pass, none");
    expect_for(FOR_N, false, "pass, not parallel");
    atomic_store(&s->inner_nth, -1);
    team_run(nesting_body, s, true);
    CHECK_MSG(atomic_load(&s->inner_nth) == 1, "a body's team_run ran on %d threads", atomic_load(&s->inner_nth));
}

static void nested_pass_fn(void *ctx)
{
    struct pass_ctx *p = ctx;
    ops_pass(pass_fn, p); /* a pass inside a pass: runs directly, its ops still on the outer team */
}

/* A decode step's matmuls and attention: the same bits with and without a pass. */
enum { NORM_ROWS = 32, NORM_D = 1024, SW_N = 10000 }; /* sizes the elementwise ops split across threads */
struct numbers {
    float *y, *x, *att_out, *q, *k, *v;
    float *norm_in, *norm_w, *norm_out, *sw_out; /* the SwiGLU reads norm_in's first SW_N twice */
    struct weight w_f32, w_q8;
    int n_past;
};

static void compute(struct numbers *c)
{
    ops_set_act(ACT_FP32);
    op_matmul(c->y, c->x, &c->w_f32, NULL, 1);
    ops_set_act(ACT_Q8);
    op_matmul(c->y + c->w_f32.d_out, c->x, &c->w_q8, NULL, 1);
    ops_set_act(ACT_FP32);
    op_rmsnorm(c->norm_out, c->norm_in, c->norm_w, NORM_ROWS, NORM_D, 1e-6f);
    op_swiglu(c->sw_out, c->norm_in, c->norm_in + SW_N, SW_N);
    op_attention(&(struct attn_args){.out = c->att_out, .q = c->q, .k = c->k, .v = c->v, .k_stride = 4 * 64,
                                     .v_stride = 4 * 64, .n_tok = 1, .n_past = c->n_past, .n_head = 16,
                                     .n_kv_head = 4, .d_k = 64, .d_v = 64, .scale = 0.125f});
}

static void compute_fn(void *ctx) { compute(ctx); }

static void same_numbers(void)
{
    enum { D_IN = 512, D_OUT = 640, KEYS = 200 };
    struct numbers c = {.n_past = KEYS - 1};
    float *wf = malloc(sizeof(float) * D_IN * D_OUT);
    uint8_t *wq = malloc((size_t)D_IN / 32 * 34 * D_OUT);
    c.x = malloc(sizeof(float) * D_IN);
    c.y = malloc(sizeof(float) * 2 * D_OUT);
    c.q = malloc(sizeof(float) * 16 * 64);
    c.att_out = malloc(sizeof(float) * 16 * 64);
    c.k = malloc(sizeof(float) * KEYS * 4 * 64);
    c.v = malloc(sizeof(float) * KEYS * 4 * 64);
    c.norm_in = malloc(sizeof(float) * NORM_ROWS * NORM_D);
    c.norm_w = malloc(sizeof(float) * NORM_D);
    c.norm_out = malloc(sizeof(float) * NORM_ROWS * NORM_D);
    c.sw_out = malloc(sizeof(float) * SW_N);
    unsigned r = 12345;
#define RND() ((float)((r = r * 1103515245u + 12345u) >> 8) / 16777216.0f - 0.5f)
    for (int i = 0; i < D_IN * D_OUT; i++)
        wf[i] = RND();
    for (size_t b = 0; b < (size_t)D_IN / 32 * D_OUT; b++) {
        const uint16_t d = 0x2000 + (uint16_t)(b % 512); /* small positive halves */
        memcpy(wq + b * 34, &d, 2);
        for (int j = 0; j < 32; j++)
            wq[b * 34 + 2 + j] = (uint8_t)(int8_t)(RND() * 250);
    }
    for (int i = 0; i < D_IN; i++)
        c.x[i] = RND();
    for (int i = 0; i < 16 * 64; i++)
        c.q[i] = RND();
    for (int i = 0; i < KEYS * 4 * 64; i++)
        c.k[i] = RND(), c.v[i] = RND();
    for (int i = 0; i < NORM_ROWS * NORM_D; i++)
        c.norm_in[i] = RND();
    for (int i = 0; i < NORM_D; i++)
        c.norm_w[i] = 1.0f + RND();
    c.w_f32 = (struct weight){.dtype = DTYPE_F32, .d_out = D_OUT, .d_in = D_IN, .data = wf};
    c.w_q8 = (struct weight){.dtype = DTYPE_Q8_0, .d_out = D_OUT, .d_in = D_IN, .data = wq};
    compute(&c);
    float *y0 = malloc(sizeof(float) * 2 * D_OUT), *a0 = malloc(sizeof(float) * 16 * 64);
    float *n0 = malloc(sizeof(float) * NORM_ROWS * NORM_D), *s0 = malloc(sizeof(float) * SW_N);
    memcpy(y0, c.y, sizeof(float) * 2 * D_OUT);
    memcpy(a0, c.att_out, sizeof(float) * 16 * 64);
    memcpy(n0, c.norm_out, sizeof(float) * NORM_ROWS * NORM_D);
    memcpy(s0, c.sw_out, sizeof(float) * SW_N);
    memset(c.y, 0, sizeof(float) * 2 * D_OUT);
    memset(c.att_out, 0, sizeof(float) * 16 * 64);
    memset(c.norm_out, 0, sizeof(float) * NORM_ROWS * NORM_D);
    memset(c.sw_out, 0, sizeof(float) * SW_N);
    ops_pass(compute_fn, &c);
    CHECK_MSG(memcmp(y0, c.y, sizeof(float) * 2 * D_OUT) == 0, "matmuls differ inside a pass");
    CHECK_MSG(memcmp(a0, c.att_out, sizeof(float) * 16 * 64) == 0, "attention differs inside a pass");
    CHECK_MSG(memcmp(n0, c.norm_out, sizeof(float) * NORM_ROWS * NORM_D) == 0, "rmsnorm differs inside a pass");
    CHECK_MSG(memcmp(s0, c.sw_out, sizeof(float) * SW_N) == 0, "swiglu differs inside a pass");
    bool finite = true;
    for (int i = 0; i < 2 * D_OUT; i++)
        finite = finite && isfinite(y0[i]);
    CHECK(finite);
    free(wf), free(wq), free(c.x), free(c.y), free(c.q), free(c.att_out), free(c.k), free(c.v), free(y0), free(a0);
    free(c.norm_in), free(c.norm_w), free(c.norm_out), free(c.sw_out), free(n0), free(s0);
}

int main(void)
{
    struct seen *s = calloc(1, sizeof *s);
    const int procs = omp_get_num_procs(), n = procs < 2 ? 2 : procs > 8 ? 8 : procs;
    ops_set_threads(n);

    /* outside a pass: OpenMP regions */
    reset(s, n);
    team_run(count_body, s, true);
    expect_once_each(s, n, "region");
    reset(s, 1);
    team_run(count_body, s, false);
    expect_once_each(s, 1, "not parallel");
    s->round = 7;
    team_run(barrier_body, s, true);
    expect_for(FOR_N, true, "region");
    expect_for(3, true, "region, three indices");
    CHECK_MSG(atomic_load(&s->stale) == 0, "region barrier: %d stale slots", atomic_load(&s->stale));

    /* inside a pass (where there are cores enough: else it runs directly, on the regions) */
    struct pass_ctx p = {.s = s, .nth = n, .posts = 3000};
    ops_pass(pass_fn, &p);
    CHECK_MSG(atomic_load(&s->stale) == 0, "pass barrier: %d stale slots", atomic_load(&s->stale));
    p.posts = 10;
    ops_pass(nested_pass_fn, &p);

    /* more threads than cores: no pass, the same results */
    ops_set_threads(procs + 1);
    p.nth = procs + 1 <= MAX_T ? procs + 1 : MAX_T;
    if (procs + 1 <= MAX_T)
        ops_pass(pass_fn, &p);
    CHECK_MSG(atomic_load(&s->stale) == 0, "oversubscribed: %d stale slots", atomic_load(&s->stale));

    ops_set_threads(n);
    same_numbers();
    free(s);
    return test_done("test_team");
}
