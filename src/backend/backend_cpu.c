/* backend_cpu.c — the CPU implementation of ops.h over the kernels in src/kernels, threaded with OpenMP.
 *
 * Work is split so each thread owns disjoint outputs (rows of a matmul, (token, head) pairs of
 * attention): results do not depend on the thread count.
 */
#include <math.h>
#include <omp.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "backend/ops.h"
#include "backend/team.h"
#include "kernels/kernels.h"

static int g_threads = 1;

int ops_set_threads(int n_threads)
{
    kernels_init(0);
    g_threads = n_threads > 0 ? n_threads : omp_get_num_procs();
    return g_threads;
}

int ops_threads(void) { return g_threads; }

static bool g_row_exact;
static enum act_mode g_act;
void ops_set_row_exact(bool on) { g_row_exact = on; }
bool ops_row_exact(void) { return g_row_exact; }
void ops_set_act(enum act_mode mode) { g_act = mode; }

static matmul_fn *matmul_for(enum dtype dtype)
{
    switch (dtype) {
    case DTYPE_F32: return kern.matmul_f32;
    case DTYPE_BF16: return kern.matmul_bf16;
    case DTYPE_F16: return kern.matmul_f16;
    case DTYPE_Q8_0: return kern.matmul_q8_0;
    case DTYPE_Q4_0: return kern.matmul_q4_0;
    case DTYPE_Q4_1: return kern.matmul_q4_1;
    case DTYPE_Q5_0: return kern.matmul_q5_0;
    case DTYPE_Q5_1: return kern.matmul_q5_1;
    case DTYPE_Q4_K: return kern.matmul_q4_K;
    case DTYPE_Q5_K: return kern.matmul_q5_K;
    case DTYPE_Q6_K: return kern.matmul_q6_K;
    case DTYPE_MXFP4: return kern.matmul_mxfp4g;
    default: break;
    }
    OWL_ASSERT(!"matmul: weight dtype without a kernel (the loader must refuse it)");
    return NULL;
}

/* Rows [o0, o1) of w for n tokens: MXFP4 and FP8 weights through their kernels (which take the scales), the
 * others through fn. */
static void matmul_rows(matmul_fn *fn, float *y, const float *x, const struct weight *w, int n, int o0, int o1)
{
    if (weight_is_mxfp4(w))
        kern.matmul_mxfp4(y, x, w->data, w->scales, n, w->d_in, w->d_out, o0, o1);
    else if (w->dtype == DTYPE_F8_E4M3)
        kern.matmul_fp8(y, x, w->data, w->scales, n, w->d_in, w->d_out, o0, o1);
    else
        fn(y, x, w->data, n, w->d_in, w->d_out, o0, o1);
}

void backend_matmul_rows(float *y, const float *x, const struct weight *w, int n, int o0, int o1)
{
    matmul_rows(weight_is_mxfp4(w) || w->dtype == DTYPE_F8_E4M3 ? NULL : matmul_for(w->dtype), y, x, w, n, o0, o1);
}

void weight_to_f32(float *out, const void *data, enum dtype dtype, size_t n)
{
    switch (dtype) {
    case DTYPE_F32: dequantize_row_f32(out, data, (int)n); return;
    case DTYPE_BF16: dequantize_row_bf16(out, data, (int)n); return;
    case DTYPE_F16: dequantize_row_f16(out, data, (int)n); return;
    case DTYPE_Q8_0: dequantize_row_q8_0(out, data, (int)n); return;
    case DTYPE_Q4_0: dequantize_row_q4_0(out, data, (int)n); return;
    case DTYPE_Q4_1: dequantize_row_q4_1(out, data, (int)n); return;
    case DTYPE_Q5_0: dequantize_row_q5_0(out, data, (int)n); return;
    case DTYPE_Q5_1: dequantize_row_q5_1(out, data, (int)n); return;
    case DTYPE_Q4_K: dequantize_row_q4_K(out, data, (int)n); return;
    case DTYPE_Q5_K: dequantize_row_q5_K(out, data, (int)n); return;
    case DTYPE_Q6_K: dequantize_row_q6_K(out, data, (int)n); return;
    case DTYPE_MXFP4:
        for (size_t i = 0; i < n; i += 32)
            dequantize_block_mxfp4(out + i, (const uint8_t *)data + i / 32 * 17);
        return;
    default: OWL_ASSERT(!"weight_to_f32: unsupported dtype");
    }
}

void op_embed(float *out, const struct weight *emb, const int32_t *tokens, int n)
{
    size_t row_bytes = 0;
    OWL_ASSERT(dtype_bytes(emb->dtype, (uint64_t)emb->d_in, &row_bytes));
    for (int t = 0; t < n; t++) {
        OWL_ASSERT(tokens[t] >= 0 && tokens[t] < emb->d_out);
        weight_to_f32(out + (size_t)t * emb->d_in, (const char *)emb->data + (size_t)tokens[t] * row_bytes,
                      emb->dtype, (size_t)emb->d_in);
    }
}

/* Scratch of the ops that need some (the bf16 GEMM's packed activations and weight panels, the act q8 mode's
 * int8 activations, decode attention's partial states; op_matmul_heads' gathered rows in a slot of their own,
 * since the matmuls it calls use slot 0): per calling thread (the OpenMP workers only use their caller's), grown
 * on first need and kept, so a forward allocates only while its shapes are new; freed when its thread exits (a
 * server's engine thread). */
enum { WS_SLOTS = 2 };
struct ws {
    void *p[WS_SLOTS];
    size_t size[WS_SLOTS];
};
static pthread_key_t g_ws_key;
static pthread_once_t g_ws_once = PTHREAD_ONCE_INIT;

static void ws_free(void *v)
{
    struct ws *w = v;
    for (int i = 0; i < WS_SLOTS; i++)
        big_free(w->p[i]);
    free(w);
}

static void ws_key_create(void) { OWL_ASSERT(pthread_key_create(&g_ws_key, ws_free) == 0); }

void *backend_scratch(int slot, size_t bytes)
{
    OWL_ASSERT(slot >= 0 && slot < WS_SLOTS);
    pthread_once(&g_ws_once, ws_key_create);
    struct ws *w = pthread_getspecific(g_ws_key);
    if (!w) {
        w = xcalloc(1, sizeof *w);
        OWL_ASSERT(pthread_setspecific(g_ws_key, w) == 0);
    }
    if (bytes > w->size[slot]) {
        big_free(w->p[slot]);
        w->p[slot] = big_alloc(bytes);
        OWL_ASSERT(w->p[slot]);
        w->size[slot] = bytes;
    }
    return w->p[slot];
}

static void *workspace(size_t bytes) { return backend_scratch(0, bytes); }

/* The weight format of the bf16-activation prefill GEMM for dtype t, or -1 where it takes none. */
static int act_bf16_format(enum dtype t)
{
    return t == DTYPE_BF16 ? ACT_W_BF16
         : t == DTYPE_Q8_0 ? ACT_W_Q8_0
         : t == DTYPE_Q4_K ? ACT_W_Q4_K
         : t == DTYPE_Q5_K ? ACT_W_Q5_K
         : t == DTYPE_Q6_K ? ACT_W_Q6_K
         : t == DTYPE_Q4_0 ? ACT_W_Q4_0
         : t == DTYPE_Q4_1 ? ACT_W_Q4_1
         : t == DTYPE_Q5_0 ? ACT_W_Q5_0
         : t == DTYPE_Q5_1 ? ACT_W_Q5_1
         : t == DTYPE_F8_E4M3 ? ACT_W_FP8
                           : -1;
}

/* Work shared by claims: units [0, n) split in order into one share per thread; a thread takes its share's units
 * in order, then the units left at the ends of the other shares (from the last down, while the owner goes up), so
 * the threads finish together (a vCPU that gets less memory bandwidth than its twin no longer leaves the other
 * waiting at the barrier) and read their rows in order. A share is its range [lo, hi) in one 64-bit word on a
 * cache line of its own: the owner takes lo and the others hi - 1 by compare-and-swap, so a thread's claims touch
 * only its own line until it helps another (byte flags side by side made every claim bounce one line between the
 * cores: 1.2% of a decode in claim_next). claims(at, n): g_threads shares of n units at at (64-byte aligned,
 * CLAIMS_BYTES), set before the parallel region; a region that runs on fewer threads leaves the missing threads'
 * shares to the others. claim_next: thread id's next unit, or -1 when none is left. */
struct share {
    _Alignas(64) _Atomic uint64_t range; /* lo | hi << 32 */
};
#define CLAIMS_BYTES ((size_t)g_threads * sizeof(struct share))
enum { CLAIM_ROWS = 64 };
static struct share *claims(void *at, int n)
{
    struct share *sh = at;
    for (int i = 0; i < g_threads; i++) {
        const uint64_t lo = (uint64_t)((long)n * i / g_threads), hi = (uint64_t)((long)n * (i + 1) / g_threads);
        atomic_init(&sh[i].range, lo | hi << 32);
    }
    return sh;
}

/* Thread id's share as it stands: [*lo, *hi) (others may have taken from its end since). */
static void share_range(struct share *sh, int id, int *lo, int *hi)
{
    const uint64_t r = atomic_load_explicit(&sh[id].range, memory_order_relaxed);
    *lo = (int)(uint32_t)r, *hi = (int)(r >> 32);
}
static int claim_next(struct share *sh, int id)
{
    uint64_t r = atomic_load_explicit(&sh[id].range, memory_order_relaxed);
    while ((uint32_t)r < (uint32_t)(r >> 32)) /* own share, upward */
        if (atomic_compare_exchange_weak_explicit(&sh[id].range, &r, r + 1, memory_order_relaxed,
                                                  memory_order_relaxed))
            return (int)(uint32_t)r;
    for (int k = 1; k < g_threads; k++) { /* the others', each from its end down */
        struct share *o = &sh[(id + k) % g_threads];
        r = atomic_load_explicit(&o->range, memory_order_relaxed);
        while ((uint32_t)r < (uint32_t)(r >> 32))
            if (atomic_compare_exchange_weak_explicit(&o->range, &r, r - (1ull << 32), memory_order_relaxed,
                                                      memory_order_relaxed))
                return (int)(r >> 32) - 1;
    }
    return -1;
}

/* The act q8 kernel of a GGML block dtype (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K), or NULL (MXFP4, or none in this table). */
static matmul_q8_0_q8_fn *q8_kernel(enum dtype t)
{
    return t == DTYPE_Q8_0 ? kern.matmul_q8_0_q8
         : t == DTYPE_Q4_0 ? kern.matmul_q4_0_q8
         : t == DTYPE_Q4_1 ? kern.matmul_q4_1_q8
         : t == DTYPE_Q5_0 ? kern.matmul_q5_0_q8
         : t == DTYPE_Q5_1 ? kern.matmul_q5_1_q8
         : t == DTYPE_Q4_K ? kern.matmul_q4_K_q8
         : t == DTYPE_Q5_K ? kern.matmul_q5_K_q8
         : t == DTYPE_Q6_K ? kern.matmul_q6_K_q8
                           : NULL;
}

/* Whether weight w (Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K) takes the act q8 mode's prefill GEMM for n
 * tokens (VNNI; not in row-exact mode). */
static bool q8_gemm(const struct weight *w, int n)
{
    /* (its gathers address a chunk's rows with 32-bit offsets) */
    const bool fmt = w->dtype == DTYPE_Q8_0 || w->dtype == DTYPE_Q4_0 || w->dtype == DTYPE_Q4_1 ||
                     w->dtype == DTYPE_Q5_0 || w->dtype == DTYPE_Q5_1 || w->dtype == DTYPE_Q4_K ||
                     w->dtype == DTYPE_Q5_K || w->dtype == DTYPE_Q6_K;
    return g_act == ACT_Q8 && fmt && n >= GEMM_MIN_TOKENS && !g_row_exact && kern.gemm_blocks_q8 &&
           (size_t)w->d_in / 32 * Q8_0_BLOCK_BYTES * Q8_GEMM_ROWS < (size_t)INT32_MAX;
}

/* The act q8 mode's MXFP4 and GGML block matmuls, one or several in one parallel region (op_matmul_many: an MoE
 * layer's experts in decode): each job's activations quantized once (once for consecutive jobs on the same x), then
 * the jobs' row chunks claimed as one range of units: CLAIM_ROWS rows (decode; and row-exact mode in groups of
 * KERN_ROW_EXACT_TOKENS, the block dtypes' prefill: a chunk stays in L1/L2 across the groups), about 16 per thread
 * for the MXFP4 prefill GEMM (it packs its tokens once per chunk). */
enum { MATMUL_MANY_MAX = 16 };
struct q8_job {
    matmul_q8_0_q8_fn *block_fn; /* or NULL: MXFP4 */
    bool q8_gemm;                /* those of q8_gemm() in prefill: kern.gemm_blocks_q8 over every token */
    bool hf;                     /* MXFP4 in the HF layout (separate scales) */
    bool shares;                 /* quantized with the job before it (same x, d_in and layout) */
    int rows;                    /* rows per unit */
    struct act_q8 a;
};

/* The job that unit u of a batch belongs to, first[j] being job j's first unit. */
static int unit_job(const int *first, int n_jobs, int u)
{
    int j = n_jobs - 1;
    while (u < first[j])
        j--;
    return j;
}

/* Whether job j reads the same activations as the job before it (same x and d_in): one conversion serves both. */
static bool same_input(const struct matmul_job *jobs, int j)
{
    return j > 0 && jobs[j].x == jobs[j - 1].x && jobs[j].w->d_in == jobs[j - 1].w->d_in;
}

/* The bf16-activation prefill GEMM (BF16, Q8_0 or K-quant weights), one or several matmuls in one parallel region
 * (op_matmul_many: q/k/v, gate/up): each distinct input packed once, by every thread (consecutive jobs on the same x
 * share it), then the jobs' rows shared out by claims as one range of units of the kernel's panel (ACT_BF16_ROWS),
 * each thread with its own weight panel. */
static void matmul_gemm_bf16_many(const struct matmul_job *jobs, int n_jobs, int n)
{
    int first[MATMUL_MANY_MAX + 1] = {0};
    size_t xp_at[MATMUL_MANY_MAX], xp_bytes = 0;
    const int n_tiles = (n + ACT_BF16_TILE - 1) / ACT_BF16_TILE;
    for (int j = 0; j < n_jobs; j++) {
        const struct weight *w = jobs[j].w;
        first[j + 1] = first[j] + (w->d_out + ACT_BF16_ROWS - 1) / ACT_BF16_ROWS;
        const bool shares = same_input(jobs, j);
        xp_at[j] = shares ? xp_at[j - 1] : xp_bytes;
        if (!shares)
            xp_bytes += act_bf16_packed_len(n, w->d_in) * sizeof(uint16_t); /* a multiple of 4 KB */
    }
    const size_t panel_bytes = ACT_BF16_PANEL * sizeof(float);
    const int n_units = first[n_jobs];
    char *ws = workspace(xp_bytes + panel_bytes * (size_t)g_threads + CLAIMS_BYTES);
    struct share *taken = claims(ws + xp_bytes + panel_bytes * (size_t)g_threads, n_units);
#pragma omp parallel num_threads(g_threads) if (g_threads > 1)
    {
        const int nth = omp_get_num_threads(), id = omp_get_thread_num();
        for (int j = 0; j < n_jobs; j++)
            if (j == 0 || xp_at[j] != xp_at[j - 1])
                kern.pack_act_bf16((uint16_t *)(ws + xp_at[j]), jobs[j].x, n, jobs[j].w->d_in, n_tiles * id / nth,
                                   n_tiles * (id + 1) / nth);
#pragma omp barrier
        for (int u; (u = claim_next(taken, id)) >= 0;) {
            const int j = unit_job(first, n_jobs, u);
            const struct weight *w = jobs[j].w;
            const int o0 = (u - first[j]) * ACT_BF16_ROWS;
            kern.gemm_bf16_act(jobs[j].y, (const uint16_t *)(ws + xp_at[j]), w->data, w->scales,
                               (enum act_bf16_weights)act_bf16_format(w->dtype), n, w->d_in, w->d_out, o0,
                               o0 + ACT_BF16_ROWS < w->d_out ? o0 + ACT_BF16_ROWS : w->d_out,
                               (float *)(ws + xp_bytes + panel_bytes * (size_t)id));
        }
    }
}

/* Bytes of n tokens' int8 activations (q) and of their per-block d or sums, each rounded up to 64; in decode
 * (page true) each rounded up to whole 4 KiB pages. Decode puts the three on pages of their own: side by side in
 * one run of lines, the fast minutes' decode matmuls streamed 3-5 points of the probe slower (o and down 80 ->
 * 85, 84 -> 88, the head 89 -> 92; Qwen3-0.6B Q8_0 tg64 in the fast minutes 70.7 -> 74.2 tokens/s; why, not
 * found: docs/BENCHMARKS.md). */
static size_t q8_round(size_t bytes, bool page) { return page ? (bytes + 4095) / 4096 * 4096 : (bytes + 63) / 64 * 64; }
static size_t q8_q_bytes(int n, int d_in, bool page) { return q8_round((size_t)n * d_in, page); }
static size_t q8_d_bytes(int n, int d_in, bool page) { return q8_round((size_t)n * (d_in / 32) * 4, page); }

/* The cache lines of n tokens' int8 activations, scales and sums requested at once: for writing (thread 0, before
 * quantizing into lines the other threads read last: the ownership requests overlap instead of each store waiting
 * its turn), or for reading (the others, as their body starts: the lines come together, not as the first rows reach
 * them). Decode, Qwen3-0.6B Q8_0 tg64, the same binary with and without, alternating: 1.010 +- 0.005 and 1.017
 * +- 0.006 the tokens/s in the fast minutes (27 and 29 pairs), 1.009 +- 0.008 in the slow (docs/BENCHMARKS.md). */
static void q8_line(const void *p, bool write) { write ? __builtin_prefetch(p, 1, 3) : __builtin_prefetch(p, 0, 3); }
static void q8_lines(const struct act_q8 *a, int n, int d_in, bool write)
{
    for (size_t o = 0; o < q8_q_bytes(n, d_in, false); o += 64)
        q8_line(a->q + o, write);
    for (size_t o = 0; o < q8_d_bytes(n, d_in, false); o += 64) {
        q8_line((const char *)a->d + o, write);
        q8_line((const char *)a->sum + o, write);
    }
}

/* matmul_q8_many's parallel part: the prefill's quantization shared out, then the units claimed. */
struct q8_many {
    const struct matmul_job *jobs;
    const struct q8_job *J;
    const int *first;
    int n_jobs, n, group;
    struct share *taken;
    char *panels; /* one of panel_bytes per thread, for the int8 GEMM (q8_gemm) */
    size_t panel_bytes;
};

static void q8_many_body(void *ctx, int id, int nth)
{
    const struct q8_many *c = ctx;
    const struct matmul_job *jobs = c->jobs;
    const struct q8_job *J = c->J;
    const int n = c->n, n_jobs = c->n_jobs, group = c->group;
    if (n >= GEMM_MIN_TOKENS) { /* prefill: each thread quantizes its share of the tokens, then all wait for all */
        const int t0 = n * id / nth, t1 = n * (id + 1) / nth;
        for (int j = 0; j < n_jobs; j++) {
            const int d_in = jobs[j].w->d_in, nb = d_in / 32;
            if (J[j].shares || t1 == t0)
                continue;
            const struct act_q8 part = {J[j].a.q + (size_t)t0 * d_in, J[j].a.d + (size_t)t0 * nb,
                                        J[j].a.sum + (size_t)t0 * nb};
            kern.quantize_act_q8(&part, jobs[j].x + (size_t)t0 * d_in, t1 - t0, d_in, J[j].hf);
        }
        team_barrier();
    } else if (id != 0) { /* decode: the activations thread 0 just wrote, asked for at once (q8_lines) */
        for (int j = 0; j < n_jobs; j++)
            if (!J[j].shares)
                q8_lines(&J[j].a, n, jobs[j].w->d_in, false);
    }
    for (int u; (u = claim_next(c->taken, id)) >= 0;) {
        const int j = unit_job(c->first, n_jobs, u);
        const struct weight *w = jobs[j].w;
        const int d_in = w->d_in, d_out = w->d_out, n_blocks = d_in / 32, rows = J[j].rows;
        const int o0 = (u - c->first[j]) * rows, o1 = o0 + rows < d_out ? o0 + rows : d_out;
        float *y = jobs[j].y;
        if (J[j].q8_gemm) {
            kern.gemm_blocks_q8(y, &J[j].a, w->data, (enum act_bf16_weights)act_bf16_format(w->dtype), n, d_in, d_out,
                                o0, o1, c->panels + c->panel_bytes * (size_t)id);
            continue;
        }
        for (int t = 0; t < n; t += group) {
            const struct act_q8 *a = &J[j].a;
            const struct act_q8 at = {a->q + (size_t)t * d_in, a->d + (size_t)t * n_blocks,
                                      a->sum + (size_t)t * n_blocks};
            const int nt = n - t < group ? n - t : group;
            if (J[j].block_fn)
                J[j].block_fn(y + (size_t)t * d_out, &at, w->data, nt, d_in, d_out, o0, o1);
            else if (w->slabs) /* (claims and thread shares: whole slabs of 16 rows) */
                kern.matmul_mxfp4s_q8(y + (size_t)t * d_out, &at, w->data, J[j].hf ? w->scales : NULL, nt, d_in, d_out,
                                      o0, o1);
            else
                kern.matmul_mxfp4_q8(y + (size_t)t * d_out, &at, w->data, J[j].hf ? w->scales : NULL, nt, d_in, d_out,
                                     o0, o1);
        }
    }
}

static void matmul_q8_many(const struct matmul_job *jobs, int n_jobs, int n)
{
    const bool decode = n < GEMM_MIN_TOKENS;
    struct q8_job J[MATMUL_MANY_MAX];
    int first[MATMUL_MANY_MAX + 1] = {0};
    size_t act_bytes = 0, panel_bytes = 0;
    for (int j = 0; j < n_jobs; j++) {
        const struct weight *w = jobs[j].w;
        const int d_in = w->d_in, d_out = w->d_out;
        J[j].block_fn = q8_kernel(w->dtype);
        J[j].q8_gemm = q8_gemm(w, n);
        J[j].hf = weight_is_mxfp4(w);
        const bool gemm = !J[j].block_fn && !decode && !g_row_exact;
        const int per_thread = (d_out + 16 * g_threads - 1) / (16 * g_threads);
        J[j].rows = gemm ? (per_thread + 15) / 16 * 16 : J[j].q8_gemm ? Q8_GEMM_ROWS : CLAIM_ROWS;
        if (J[j].q8_gemm && gemm_blocks_q8_panel_bytes(d_in) > panel_bytes)
            panel_bytes = (gemm_blocks_q8_panel_bytes(d_in) + 63) / 64 * 64;
        first[j + 1] = first[j] + (d_out + J[j].rows - 1) / J[j].rows;
        J[j].shares = same_input(jobs, j) && J[j].hf == J[j - 1].hf;
        if (!J[j].shares)
            act_bytes += q8_q_bytes(n, d_in, decode) + 2 * q8_d_bytes(n, d_in, decode);
    }
    const int n_units = first[n_jobs];
    const size_t lead = decode ? 4096 : 0; /* room to start the pages on a page */
    char *ws = workspace(lead + act_bytes + CLAIMS_BYTES + panel_bytes * (size_t)g_threads);
    ws = decode ? (char *)(((uintptr_t)ws + 4095) & ~(uintptr_t)4095) : ws;
    char *next = ws;
    for (int j = 0; j < n_jobs; j++) {
        const int d_in = jobs[j].w->d_in;
        if (J[j].shares) {
            J[j].a = J[j - 1].a;
            continue;
        }
        const size_t q_bytes = q8_q_bytes(n, d_in, decode), d_bytes = q8_d_bytes(n, d_in, decode);
        J[j].a = (struct act_q8){.q = (int8_t *)next, .d = (float *)(next + q_bytes),
                                 .sum = (int32_t *)(next + q_bytes + d_bytes)};
        if (decode) { /* here (a barrier in the region would cost more than the few blocks) */
            q8_lines(&J[j].a, n, d_in, true);
            kern.quantize_act_q8(&J[j].a, jobs[j].x, n, d_in, J[j].hf);
        }
        next += q_bytes + 2 * d_bytes;
    }
    struct q8_many c = {.jobs = jobs, .J = J, .first = first, .n_jobs = n_jobs, .n = n,
                        .group = g_row_exact ? KERN_ROW_EXACT_TOKENS : n, .taken = claims(ws + act_bytes, n_units),
                        .panels = ws + act_bytes + CLAIMS_BYTES, .panel_bytes = panel_bytes};
    team_run(q8_many_body, &c, n_units > 1);
}

/* Every other matmul: one kernel per weight dtype and activation mode, row chunks on every thread. The kernel of a
 * weight (NULL: MXFP4 or FP8, whose kernels take scales too), and whether its activations must first be rounded to
 * bf16 here: the bf16-activation mode without its GEMM (prefill: matmul_gemm_bf16_many) takes BF16 weights always, Q8_0
 * ones in prefill (never in row-exact mode, where a token's numbers must not depend on its neighbours); without
 * AVX512-BF16 (the table's entries NULL), BF16 weights meet the activations rounded to bf16 once, through the fp32
 * kernel (the same products; bf16 x bf16 is exact in fp32), Q8_0 ones exactly. */
static matmul_fn *plain_kernel(const struct weight *w, int n, bool *round_x)
{
    const bool act_bf16 = g_act != ACT_FP32 && w->dtype == DTYPE_BF16;
    *round_x = act_bf16 && !kern.matmul_bf16_act;
    return weight_is_mxfp4(w) || w->dtype == DTYPE_F8_E4M3 ? NULL
         : act_bf16 && kern.matmul_bf16_act                ? kern.matmul_bf16_act
         : g_act != ACT_FP32 && w->dtype == DTYPE_Q8_0 && n >= GEMM_MIN_TOKENS && !g_row_exact && kern.matmul_q8_0_act
             ? kern.matmul_q8_0_act
             : matmul_for(w->dtype);
}

/* matmul_plain_many's parallel part: the units claimed. */
struct plain_many {
    const struct matmul_job *jobs;
    matmul_fn *const *fn;
    const int *first;
    int n_jobs, n, group;
    struct share *taken;
    const float *x0; /* job 0's activations (rounded to bf16 where it asked) */
};

static void plain_many_body(void *ctx, int id, int nth)
{
    (void)nth;
    const struct plain_many *c = ctx;
    for (int u; (u = claim_next(c->taken, id)) >= 0;) {
        const int j = unit_job(c->first, c->n_jobs, u);
        const struct weight *w = c->jobs[j].w;
        const int d_out = w->d_out, d_in = w->d_in;
        const int o0 = (u - c->first[j]) * CLAIM_ROWS, o1 = o0 + CLAIM_ROWS < d_out ? o0 + CLAIM_ROWS : d_out;
        const float *x = j == 0 ? c->x0 : c->jobs[j].x;
        for (int t = 0; t < c->n; t += c->group) {
            const int nt = c->n - t < c->group ? c->n - t : c->group;
            matmul_rows(c->fn[j], c->jobs[j].y + (size_t)t * d_out, x + (size_t)t * d_in, w, nt, o0, o1);
        }
    }
}

/* Units of CLAIM_ROWS rows of every job (multiples of 16 keep each thread's tiles whole), disjoint, claimed
 * (claim_next) as one range: each thread reads its share in order, then helps finish the others'. A job whose
 * activations need rounding (round_x) comes alone (op_matmul_many never batches one). */
static void matmul_plain_many(const struct matmul_job *jobs, int n_jobs, int n)
{
    int first[MATMUL_MANY_MAX + 1] = {0};
    matmul_fn *fn[MATMUL_MANY_MAX];
    bool round_x = false, unused;
    for (int j = 0; j < n_jobs; j++) {
        OWL_ASSERT(!jobs[j].w->slabs); /* (model_mxfp4_slabs regroups only for the act q8 mode, which takes them all) */
        first[j + 1] = first[j] + (jobs[j].w->d_out + CLAIM_ROWS - 1) / CLAIM_ROWS;
        fn[j] = plain_kernel(jobs[j].w, n, j ? &unused : &round_x);
    }
    const int n_units = first[n_jobs], group = g_row_exact ? KERN_ROW_EXACT_TOKENS : n;
    const size_t xr_bytes = round_x ? ((size_t)n * jobs[0].w->d_in * sizeof(float) + 63) / 64 * 64 : 0;
    char *ws = workspace(xr_bytes + CLAIMS_BYTES);
    struct share *taken = claims(ws + xr_bytes, n_units);
    const float *x0 = jobs[0].x;
    if (xr_bytes) {
        float *xr = (float *)ws;
        const size_t d_in = (size_t)jobs[0].w->d_in;
#pragma omp parallel for schedule(static) num_threads(g_threads) if (g_threads > 1 && n >= GEMM_MIN_TOKENS)
        for (int t = 0; t < n; t++)
            for (size_t i = (size_t)t * d_in; i < (size_t)(t + 1) * d_in; i++)
                xr[i] = bf16_to_f32(f32_to_bf16(x0[i]));
        x0 = xr;
    }
    struct plain_many c = {.jobs = jobs, .fn = fn, .first = first, .n_jobs = n_jobs, .n = n, .group = group,
                           .taken = taken, .x0 = x0};
    team_run(plain_many_body, &c, n_units > 1);
}

static bool takes_gemm_bf16(const struct weight *w, int n)
{
    return g_act != ACT_FP32 && kern.gemm_bf16_act && n >= ACT_BF16_TILE && !g_row_exact &&
           act_bf16_format(w->dtype) >= 0 && !q8_gemm(w, n);
}

/* act q8: int8 activations against MXFP4 always, against Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K in
 * prefill where the int8 GEMM takes them (VNNI), and in decode and row-exact mode (where the table has a kernel).
 * A prefill without the int8 GEMM (CPUs without VNNI) takes the bf16 GEMM where there is one, else the exact fp32
 * GEMM: on AVX2 the latter ran Qwen3-0.6B Q8_0's pp512 at 150-161 tokens/s against 125-128 for the int8 rows it
 * replaced (docs/BENCHMARKS.md) */
static bool takes_q8(const struct weight *w, int n)
{
    const bool q8_decode = q8_kernel(w->dtype) && (n < GEMM_MIN_TOKENS || g_row_exact);
    return g_act == ACT_Q8 && (weight_is_mxfp4(w) || w->dtype == DTYPE_MXFP4 || q8_decode || q8_gemm(w, n));
}

static void add_bias(const struct matmul_job *m, int n)
{
    for (int t = 0; m->bias && t < n; t++)
        op_add(m->y + (size_t)t * m->w->d_out, m->bias, (size_t)m->w->d_out);
}

void op_matmul(float *y, const float *x, const struct weight *w, const float *bias, int n)
{
    const struct matmul_job m = {.y = y, .x = x, .w = w, .bias = bias};
    if (takes_q8(w, n))
        matmul_q8_many(&m, 1, n);
    else if (takes_gemm_bf16(w, n))
        matmul_gemm_bf16_many(&m, 1, n);
    else
        matmul_plain_many(&m, 1, n);
    add_bias(&m, n);
}

void op_matmul_many(const struct matmul_job *jobs, int n_jobs, int n)
{
    /* together: every job on the act q8 path or on the plain one with its activations as given (decode), or every
     * job on the bf16-activation GEMM (prefill) */
    bool q8 = n_jobs <= MATMUL_MANY_MAX && n < GEMM_MIN_TOKENS, plain = q8, gemm = n_jobs <= MATMUL_MANY_MAX;
    bool q8_gemms = n_jobs <= MATMUL_MANY_MAX; /* prefill: every job on the Q8_0 GEMM */
    for (int j = 0; j < n_jobs; j++) {
        bool round_x;
        plain_kernel(jobs[j].w, n, &round_x);
        const bool job_q8 = takes_q8(jobs[j].w, n), job_gemm = takes_gemm_bf16(jobs[j].w, n);
        q8_gemms = q8_gemms && q8_gemm(jobs[j].w, n);
        q8 = q8 && job_q8;
        plain = plain && !job_q8 && !job_gemm && !round_x;
        gemm = gemm && job_gemm; /* takes_q8 never takes a job the GEMM takes */
    }
    q8 = q8 || q8_gemms;
    if (!q8 && !plain && !gemm) {
        for (int j = 0; j < n_jobs; j++)
            op_matmul(jobs[j].y, jobs[j].x, jobs[j].w, jobs[j].bias, n);
        return;
    }
    if (gemm)
        matmul_gemm_bf16_many(jobs, n_jobs, n);
    else if (q8)
        matmul_q8_many(jobs, n_jobs, n);
    else
        matmul_plain_many(jobs, n_jobs, n);
    for (int j = 0; j < n_jobs; j++)
        add_bias(&jobs[j], n);
}

/* The elementwise ops: rows or chunks on every thread where they are many (team_for), each piece computed as
 * alone. */
struct rms_rows {
    float *out;
    const float *x, *w;
    int d;
    float eps;
};
static void rms_row(const void *ctx, size_t r)
{
    const struct rms_rows *a = ctx;
    kern.rmsnorm_f32(a->out + r * (size_t)a->d, a->x + r * (size_t)a->d, a->w, a->d, a->eps);
}

void op_rmsnorm(float *out, const float *x, const float *w, int n_rows, int d, float eps)
{
    team_for((size_t)n_rows, rms_row, &(struct rms_rows){out, x, w, d, eps}, (size_t)n_rows * d >= 16384);
}

struct rope_rows {
    float *x;
    int n_head, tok_stride, head_stride, d_rot;
    const float *cos, *sin;
    bool interleaved;
};
static void rope_row(const void *ctx, size_t t)
{
    const struct rope_rows *a = ctx;
    const size_t half = (size_t)a->d_rot / 2;
    kern.rope_f32(a->x + t * (size_t)a->tok_stride, a->n_head, a->head_stride, a->d_rot, a->cos + t * half,
                  a->sin + t * half, a->interleaved);
}

void op_rope(float *x, int n_tok, int n_head, int tok_stride, int head_stride, int d_rot,
             const float *cos, const float *sin, enum rope_pairing pairing)
{
    /* tokens on every thread in prefill (each token's rows alone: the same numbers) */
    team_for((size_t)n_tok, rope_row, &(struct rope_rows){x, n_head, tok_stride, head_stride, d_rot, cos, sin,
                                                           pairing == ROPE_PAIRING_INTERLEAVED},
             n_tok >= 16);
}

void op_attention(const struct attn_args *a) { op_attention_batch(a, 1); }

/* Decode, the attentions of one query token (args[idx[0..n)]): items of (key chunk, block of heads), the
 * chunks ATTN_PART_KEYS positions long at multiples of it, so a result depends neither on the thread count nor
 * on the batch (how heads are blocked does not change a head's numbers); each item a partial softmax state
 * (kern.attention_part, which streams its chunk of the cache once for all its heads), then per head a merge over
 * the chunks in order, with the sink. */
struct attn_dec {
    int lo, c0, n_c, R, rep, n_hb, item0, hb0; /* keys lo .. n_past visible, in chunks c0 .. c0 + n_c - 1 */
    size_t part0;
};

static struct attn_dec decode_plan(const struct attn_args *a)
{
    const int n_rep = a->n_head / a->n_kv_head;
    const int pos = a->n_past, lo = a->window > 0 && pos - a->window + 1 > 0 ? pos - a->window + 1 : 0;
    struct attn_dec d = {.lo = lo, .c0 = lo / ATTN_PART_KEYS, .n_c = pos / ATTN_PART_KEYS - lo / ATTN_PART_KEYS + 1};
    if (n_rep > ATTN_PART_HEADS) { /* blocks within one KV head */
        for (d.R = ATTN_PART_HEADS; n_rep % d.R; d.R--)
            ;
        d.rep = d.R;
    } else { /* blocks of whole KV heads, about two items per thread when the chunks are few */
        const int want = (2 * g_threads + d.n_c - 1) / d.n_c;
        int per = (a->n_kv_head + want - 1) / want;
        per = per * n_rep > ATTN_PART_HEADS ? ATTN_PART_HEADS / n_rep : per;
        while (a->n_kv_head % per)
            per--;
        d.R = per * n_rep;
        d.rep = n_rep;
    }
    d.n_hb = a->n_head / d.R;
    return d;
}

/* Floats of an attention's partial states: (m, l, output) per head and chunk. */
static size_t plan_floats(const struct attn_dec *d, const struct attn_args *a)
{
    return (size_t)d->n_c * a->n_head * (2 + a->d_v);
}

/* Head h (of the R in block b) of attention a: its chunks' partial states merged in order, with the sink. */
static void merge_head(const struct attn_args *a, const struct attn_dec *d, const float *part, int h)
{
    const int R = d->R, b = h / R, r = h % R;
    const size_t item_floats = (size_t)R * (2 + a->d_v), chunk_floats = (size_t)d->n_hb * item_floats;
    const float *st0 = part + d->part0 + (size_t)b * item_floats; /* chunk c at st0 + c * chunk_floats */
    float M = a->sinks ? a->sinks[h] : -INFINITY;
    for (int c = 0; c < d->n_c; c++)
        M = fmaxf(M, st0[(size_t)c * chunk_floats + r]);
    float L = a->sinks ? expf(a->sinks[h] - M) : 0.0f, *o = a->out + (size_t)h * a->d_v;
    memset(o, 0, (size_t)a->d_v * sizeof *o);
    for (int c = 0; c < d->n_c; c++) {
        const float *st = st0 + (size_t)c * chunk_floats, w = expf(st[r] - M);
        L += w * st[R + r];
        kern.axpy_f32(o, w, st + 2 * R + (size_t)r * a->d_v, a->d_v);
    }
    const float inv = 1.0f / L;
    for (int k = 0; k < a->d_v; k++)
        o[k] *= inv;
}

/* attention_decode's parallel part: items claimed one at a time (a chunk's cost varies: claims, each thread's share
 * in order, then the others' ends); each block of heads counts its chunks down, and the item that finishes the
 * block's last chunk merges its heads (in chunk order, so the numbers do not depend on which thread that is). */
struct attn_decode {
    const struct attn_args *args;
    const int *idx;
    int n;
    const struct attn_dec *d;
    atomic_int *left;
    struct share *taken;
    float *part;
};

/* Item `item` of an attention_decode: its attention (x->args[x->idx[i]]), its index among that one's items, its
 * block b of heads, their first KV head g, and the chunk's visible keys [p0, p1). */
struct dec_item {
    int i, local, b, g, p0, p1;
};
static struct dec_item dec_item(const struct attn_decode *x, int item)
{
    const struct attn_dec *d = x->d;
    int i = 0;
    while (i + 1 < x->n && item >= d[i + 1].item0)
        i++;
    const struct attn_args *a = &x->args[x->idx[i]];
    const int local = item - d[i].item0, c = local / d[i].n_hb, b = local % d[i].n_hb;
    const int p0 = (d[i].c0 + c) * ATTN_PART_KEYS, p1 = p0 + ATTN_PART_KEYS, end = a->n_past + 1;
    return (struct dec_item){.i = i, .local = local, .b = b, .g = b * d[i].R / (a->n_head / a->n_kv_head),
                             .p0 = p0 > d[i].lo ? p0 : d[i].lo, .p1 = p1 < end ? p1 : end};
}

/* The cache rows of items [i0, i1), up to ATTN_PREFETCH_BYTES of them, requested into L2 at once: a thread's
 * share at a short context (64 keys: 128 KiB of fp32 keys and values) then streams in together instead of block
 * by block as the tiles reach it (the weights' stream evicted them from every cache since the last token). A
 * Qwen3-0.6B Q8_0 decode's attention in the fast minutes: 557-588 us a token with one atomic counter, 486-526
 * with the shares, 418-471 with the shares and this (docs/BENCHMARKS.md). */
enum { ATTN_PREFETCH_BYTES = 256 << 10 };
static void prefetch_items(const struct attn_decode *x, int i0, int i1)
{
    size_t left = ATTN_PREFETCH_BYTES;
    for (int item = i0; item < i1; item++) {
        const struct dec_item it = dec_item(x, item);
        const struct attn_args *a = &x->args[x->idx[it.i]];
        const size_t el = a->kv_f16 ? 2 : 4, heads = (size_t)x->d[it.i].R / x->d[it.i].rep;
        const size_t k_bytes = heads * a->d_k * el, v_bytes = heads * a->d_v * el;
        for (int p = it.p0; p < it.p1; p++) {
            if (left < k_bytes + v_bytes)
                return;
            left -= k_bytes + v_bytes;
            const char *k = (const char *)kv_elem(a->k, a->kv_f16, (size_t)p * a->k_stride + (size_t)it.g * a->d_k);
            const char *v = (const char *)kv_elem(a->v, a->kv_f16, (size_t)p * a->v_stride + (size_t)it.g * a->d_v);
            for (size_t o = 0; o < k_bytes; o += 64)
                __builtin_prefetch(k + o, 0, 2);
            for (size_t o = 0; o < v_bytes; o += 64)
                __builtin_prefetch(v + o, 0, 2);
        }
    }
}

static void attention_decode_body(void *ctx, int id, int nth)
{
    (void)nth;
    const struct attn_decode *x = ctx;
    const struct attn_dec *d = x->d;
    int own0, own1;
    share_range(x->taken, id, &own0, &own1);
    prefetch_items(x, own0, own1);
    for (int item; (item = claim_next(x->taken, id)) >= 0;) {
        const struct dec_item it = dec_item(x, item);
        const int i = it.i, b = it.b, R = d[i].R;
        const struct attn_args *a = &x->args[x->idx[i]];
        float *st = x->part + d[i].part0 + (size_t)it.local * R * (2 + a->d_v);
        kern.attention_part(&(struct attn_part){
            .q = a->q + (size_t)b * R * a->d_k, .k = kv_elem(a->k, a->kv_f16, (size_t)it.g * a->d_k),
            .v = kv_elem(a->v, a->kv_f16, (size_t)it.g * a->d_v), .f16 = a->kv_f16, .k_stride = a->k_stride,
            .v_stride = a->v_stride, .p0 = it.p0, .p1 = it.p1, .n_heads = R, .rep = d[i].rep,
            .d_k = a->d_k, .d_v = a->d_v, .scale = a->scale, .m = st, .l = st + R, .o = st + 2 * R});
        /* the release publishes this chunk's state; the last one's acquire sees every chunk's */
        if (atomic_fetch_sub_explicit(&x->left[d[i].hb0 + b], 1, memory_order_acq_rel) == 1)
            for (int r = 0; r < R; r++)
                merge_head(a, &d[i], x->part, b * R + r);
    }
}

static void attention_decode(const struct attn_args *args, const int *idx, int n)
{
    const size_t dec_bytes = ((size_t)n * sizeof(struct attn_dec) + 63) / 64 * 64;
    size_t parts = 0;
    int n_blocks = 0;
    for (int i = 0; i < n; i++) {
        const struct attn_dec plan = decode_plan(&args[idx[i]]);
        parts += plan_floats(&plan, &args[idx[i]]);
        n_blocks += plan.n_hb;
    }
    const size_t left_bytes = ((size_t)n_blocks * sizeof(atomic_int) + 63) / 64 * 64;
    char *ws = workspace(dec_bytes + left_bytes + CLAIMS_BYTES + parts * sizeof(float));
    struct attn_dec *d = (struct attn_dec *)ws;
    atomic_int *left = (atomic_int *)(ws + dec_bytes); /* chunks still to run, per block of heads */
    float *part = (float *)(ws + dec_bytes + left_bytes + CLAIMS_BYTES);
    int n_items = 0, hb = 0;
    parts = 0;
    for (int i = 0; i < n; i++) {
        d[i] = decode_plan(&args[idx[i]]);
        d[i].item0 = n_items;
        d[i].hb0 = hb;
        d[i].part0 = parts;
        n_items += d[i].n_c * d[i].n_hb;
        for (int b = 0; b < d[i].n_hb; b++)
            atomic_init(&left[hb + b], d[i].n_c);
        hb += d[i].n_hb;
        parts += plan_floats(&d[i], &args[idx[i]]);
    }
    struct attn_decode c = {.args = args, .idx = idx, .n = n, .d = d, .left = left,
                            .taken = claims(ws + dec_bytes + left_bytes, n_items), .part = part};
    team_run(attention_decode_body, &c, n_items > 1);
}

/* A query token whose KV heads serve this many query heads or more takes them as the rows of one attention_rows
 * call (the block path's GEMM: MLA's 128 heads over one latent, compute-bound, where it is faster), in blocks of
 * HB; fewer (Qwen3's 2 to 8, GPT-OSS's 8) take the key chunks of attention_decode, whose tiles (with their
 * prefetch) ran 1.3-3x faster than the rows from memory at 4, 5 and 8 heads per KV head (docs/BENCHMARKS.md). */
enum { HEAD_ROWS_MIN = 16, HB = 32 };

static bool head_rows(const struct attn_args *a) { return a->n_tok == 1 && a->n_head / a->n_kv_head >= HEAD_ROWS_MIN; }

/* The keys a prompt's rows see, packed for the bf16 block path: from base (the first row's first visible key,
 * down to a multiple of 32) to its last row; their count. */
static int packed_keys(const struct attn_args *a, int *base)
{
    const int lo = a->window > 0 && a->n_past - a->window + 1 > 0 ? a->n_past - a->window + 1 : 0;
    *base = lo & ~31;
    return a->n_past + a->n_tok - *base;
}

/* op_attention_batch's parallel part: the packing jobs shared out in order, then (after all) the items claimed one
 * at a time, the last first: a prompt's later row blocks see more keys, so the big items go first and the small
 * ones fill in at the end. */
enum { QB = 128 }; /* the AVX-512 block path takes up to 128 rows at once (d_v <= 128) */
enum { PACK_GROUPS = 8, PACK_BYTES = 8 << 20 };
struct attn_batch {
    const struct attn_args *args;
    const int *first, *job0, *pk0;
    int n_items, n_jobs;
    const struct attn_packed *pk;
    int prefill_bf16;
    atomic_int *next_item;
};

static void attention_batch_body(void *ctx, int id, int nth)
{
    const struct attn_batch *c = ctx;
    const struct attn_args *args = c->args;
    const int *first = c->first, *job0 = c->job0, *pk0 = c->pk0;
    const struct attn_packed *pk = c->pk;
    const int prefill_bf16 = c->prefill_bf16;
    if (c->n_jobs > 0) {
        for (int job = c->n_jobs * id / nth; job < c->n_jobs * (id + 1) / nth; job++) {
            int i = 0;
            while (job >= job0[i + 1])
                i++;
            const struct attn_args *a = &args[i];
            const int per_head = (job0[i + 1] - job0[i]) / a->n_kv_head, g = (job - job0[i]) / per_head;
            const struct attn_packed *p = &pk[pk0[i] + g];
            const int g0 = (job - job0[i]) % per_head * PACK_GROUPS, n_groups = (p->n_keys + 31) / 32;
            kern.attention_pack_bf16(p, &(struct attn_rows){
                .k = kv_elem(a->k, a->kv_f16, (size_t)g * a->d_k), .k_stride = a->k_stride,
                .v = kv_elem(a->v, a->kv_f16, (size_t)g * a->d_v), .v_stride = a->v_stride, .f16 = a->kv_f16,
                .d_k = a->d_k, .d_v = a->d_v}, g0, g0 + PACK_GROUPS < n_groups ? g0 + PACK_GROUPS : n_groups);
        }
        team_barrier();
    }
    for (int it; (it = atomic_fetch_add_explicit(c->next_item, 1, memory_order_relaxed)) < c->n_items;) {
        const int item = c->n_items - 1 - it;
        int i = 0;
        while (item >= first[i + 1])
            i++;
        const struct attn_args *a = &args[i];
        const int local = item - first[i], n_rep = a->n_head / a->n_kv_head;
        if (head_rows(a)) {
            const int nb = (n_rep + HB - 1) / HB, g = local / nb, h0 = g * n_rep + local % nb * HB;
            const int nr = (g + 1) * n_rep - h0 < HB ? (g + 1) * n_rep - h0 : HB;
            kern.attention_rows(&(struct attn_rows){
                .out = a->out + (size_t)h0 * a->d_v, .out_stride = a->d_v, .q = a->q + (size_t)h0 * a->d_k,
                .q_stride = a->d_k, .k = kv_elem(a->k, a->kv_f16, (size_t)g * a->d_k), .k_stride = a->k_stride,
                .v = kv_elem(a->v, a->kv_f16, (size_t)g * a->d_v), .v_stride = a->v_stride, .f16 = a->kv_f16,
                .n_rows = nr, .pos0 = a->n_past,
                .same_pos = 1, .window = a->window, .d_k = a->d_k, .d_v = a->d_v, .scale = a->scale,
                .sinks = a->sinks ? a->sinks + h0 : NULL, .has_sink = a->sinks != NULL, .bf16 = prefill_bf16});
            continue;
        }
        const int h = local % a->n_head, b = local / a->n_head, g = h / n_rep;
        const int t0 = b * QB, nq = a->n_tok - t0 < QB ? a->n_tok - t0 : QB;
        kern.attention_rows(&(struct attn_rows){
            .out = a->out + ((size_t)t0 * a->n_head + h) * a->d_v, .out_stride = a->n_head * a->d_v,
            .q = a->q + ((size_t)t0 * a->n_head + h) * a->d_k, .q_stride = a->n_head * a->d_k,
            .k = kv_elem(a->k, a->kv_f16, (size_t)g * a->d_k), .k_stride = a->k_stride,
            .v = kv_elem(a->v, a->kv_f16, (size_t)g * a->d_v), .v_stride = a->v_stride, .f16 = a->kv_f16,
            .n_rows = nq, .pos0 = a->n_past + t0, .window = a->window, .d_k = a->d_k, .d_v = a->d_v,
            .scale = a->scale, .sink = a->sinks ? a->sinks[h] : 0.0f, .has_sink = a->sinks != NULL,
            .bf16 = prefill_bf16, .packed = pk0[i] >= 0 ? &pk[pk0[i] + g] : NULL});
    }
}

void op_attention_batch(const struct attn_args *args, int n)
{
    /* Work items: (attention, query head, block of up to QB query tokens), rows of one head n_head*d_k apart;
     * or, for one query token with enough heads per KV head, (attention, KV head, block of up to HB of its
     * heads), rows d_k apart. first[i]: the first item of attention i. Other attentions of one query token take
     * the decode path (attention_decode) whatever the batch holds besides. */
    OWL_ASSERT(n >= 1 && n <= 65536);
    int first[n + 1], dec[n], n_dec = 0;
    first[0] = 0;
    for (int i = 0; i < n; i++) {
        const struct attn_args *a = &args[i];
        const int n_rep = a->n_head / a->n_kv_head;
        int items = a->n_head * ((a->n_tok + QB - 1) / QB);
        if (head_rows(a))
            items = a->n_kv_head * ((n_rep + HB - 1) / HB);
        else if (a->n_tok == 1)
            dec[n_dec++] = i, items = 0;
        first[i + 1] = first[i] + items;
    }
    if (n_dec)
        attention_decode(args, dec, n_dec);
    const int n_items = first[n];
    /* the activation modes' prefill attention takes bf16 products where the CPU has AVX512-BF16 (as their
     * matmuls' GEMM), and so do decode steps whose heads go as rows (MLA's: compute-bound, 1.5-1.9x faster at
     * 512-8192 keys); the decode tiles (GQA's few heads per KV head, memory-bound) stay fp32 */
    const int prefill_bf16 = g_act != ACT_FP32 && kern.attention_pack_bf16 != NULL;
    /* There each KV head's keys and values are packed once (attention_pack_bf16), for all the query heads and
     * row blocks that read them, in jobs of up to PACK_GROUPS groups of 32 keys: pk[pk0[i] + g] for attention
     * i's KV head g (pk0[i] < 0: not packed), its jobs from job0[i]. Only while they stay in the cache
     * (PACK_BYTES in all): past that a pass writing them out and reading them back costs more than packing a
     * block's keys for each query head as it goes (pp128 at depth 4096: 17 MB a layer, no faster). */
    int pk0[n], job0[n + 1], n_pk = 0;
    size_t pk_len = 0;
    job0[0] = 0;
    for (int i = 0; i < n; i++) {
        const struct attn_args *a = &args[i];
        int base;
        const int n_keys = packed_keys(a, &base);
        const size_t len = (size_t)a->n_kv_head * attn_packed_len(n_keys, a->d_k, a->d_v);
        const bool packs = prefill_bf16 && a->n_tok > 1 && (pk_len + len) * sizeof(uint32_t) <= PACK_BYTES;
        pk0[i] = packs ? n_pk : -1;
        n_pk += packs ? a->n_kv_head : 0;
        pk_len += packs ? len : 0;
        job0[i + 1] = job0[i] + (packs ? a->n_kv_head * ((n_keys + 32 * PACK_GROUPS - 1) / (32 * PACK_GROUPS)) : 0);
    }
    const int n_jobs = job0[n];
    struct attn_packed *pk = NULL;
    if (n_pk) {
        const size_t pk_bytes = ((size_t)n_pk * sizeof *pk + 63) / 64 * 64;
        char *ws = workspace(pk_bytes + pk_len * sizeof(uint32_t));
        pk = (struct attn_packed *)ws;
        uint32_t *data = (uint32_t *)(ws + pk_bytes);
        for (int i = 0; i < n; i++)
            for (int g = 0; pk0[i] >= 0 && g < args[i].n_kv_head; g++) {
                const struct attn_args *a = &args[i];
                int base;
                const int n_keys = packed_keys(a, &base);
                pk[pk0[i] + g] = attn_packed_at(data, base, n_keys, a->d_k, a->d_v);
                data += attn_packed_len(n_keys, a->d_k, a->d_v);
            }
    }
    _Alignas(64) atomic_int next_item;
    atomic_init(&next_item, 0);
    struct attn_batch c = {.args = args, .first = first, .n_items = n_items, .job0 = job0, .n_jobs = n_jobs, .pk0 = pk0,
                           .pk = pk, .prefill_bf16 = prefill_bf16, .next_item = &next_item};
    team_run(attention_batch_body, &c, n_items > 1);
}

/* Prefill-sized stores (new cache rows), SwiGLU and sums in chunks (the same values whoever computes them):
 * chunk k of in_chunks' n elements at element k * chunk, its length len. */
struct chunks {
    void (*fn)(const struct chunks *c, size_t i, size_t len);
    void *out;
    const float *a, *b;
    size_t n, chunk;
};
static void chunk_at(const void *ctx, size_t k)
{
    const struct chunks *c = ctx;
    const size_t i = k * c->chunk;
    c->fn(c, i, c->n - i < c->chunk ? c->n - i : c->chunk);
}
static void in_chunks(struct chunks c) { team_for((c.n + c.chunk - 1) / c.chunk, chunk_at, &c, true); }

static void to_f16_chunk(const struct chunks *c, size_t i, size_t len)
{
    kern.f32_to_kv16((uint16_t *)c->out + i, c->a + i, len);
}
static void copy_chunk(const struct chunks *c, size_t i, size_t len)
{
    memcpy((float *)c->out + i, c->a + i, len * sizeof(float));
}
static void swiglu_chunk(const struct chunks *c, size_t i, size_t len)
{
    kern.swiglu_f32((float *)c->out + i, c->a + i, c->b + i, len);
}
/* by the vector axpy with a = 1: x + 1 * y is x + y exactly */
static void add_chunk(const struct chunks *c, size_t i, size_t len)
{
    kern.axpy_f32((float *)c->out + i, 1.0f, c->a + i, (int)len);
}

enum { STORE_CHUNK = 65536 };
void op_to_f16(uint16_t *out, const float *x, size_t n)
{
    in_chunks((struct chunks){to_f16_chunk, out, x, NULL, n, STORE_CHUNK});
}
void op_copy(float *out, const float *x, size_t n)
{
    in_chunks((struct chunks){copy_chunk, out, x, NULL, n, STORE_CHUNK});
}
void op_swiglu(float *out, const float *gate, const float *up, size_t n)
{
    in_chunks((struct chunks){swiglu_chunk, out, gate, up, n, 4096});
}
void op_add(float *x, const float *y, size_t n) { in_chunks((struct chunks){add_chunk, x, y, NULL, n, 16384}); }
