/* session.c — the public API (owl.h): open a model directory, create sessions, evaluate tokens.
 *
 * A session owns its KV cache (shaped by the model's kv_layout) and one scratch slab sized at creation
 * for n_batch tokens; eval splits longer inputs into chunks, so the forward never allocates.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <omp.h>
#include <pthread.h>
#include <sys/mman.h>

#include "kernels/kernels.h"
#include "model/model.h"
#include "owl.h"

struct owl_model {
    struct model m;
    int n_threads;
    bool in_memory; /* the files were read into memory (owl_model_params.load) */
};

struct owl_session {
    struct owl_model *model; /* borrowed */
    int n_ctx;               /* cache rows per layer */
    int n_batch;             /* most tokens per forward */
    int n_past;              /* rows filled */
    bool kv_f16;             /* the cache holds IEEE half values (owl_session_params.kv "f16"), else fp32 */
    void *k_cache;           /* (rows, d_k), owned: layer l's from row0[l] */
    void *v_cache;           /* (rows, d_v) from half a huge page into v_mem; NULL when d_v == 0 */
    void *v_mem;             /* owned */
    float *scratch;          /* model scratch for n_batch tokens, owned */
    int ring_rows;           /* rows of each sliding-window layer where they keep only recent positions, else 0 */
    int ring_base;           /* the position in those layers' row 0: a multiple of 64 */
    size_t *row0;            /* (n_layer) each layer's first cache row, owned */
};

struct owl_model_params owl_model_default_params(void) { return (struct owl_model_params){.n_threads = 0}; }

struct owl_session_params owl_session_default_params(void)
{
    return (struct owl_session_params){.n_ctx = 0, .n_batch = 0, .kv = NULL, .window_rows = 0};
}

enum owl_status owl_model_open(const char *path, const struct owl_model_params *params, struct owl_model **out,
                               struct owl_error *err)
{
    *out = NULL;
    if (!path)
        return fail(err, OWL_ERR_INVALID_ARG, "owl_model_open: path is NULL");
    struct owl_model_params p = params ? *params : owl_model_default_params();
    struct owl_model *om = xcalloc(1, sizeof *om);
    struct model *m = &om->m;
    enum owl_status st = model_file_open(&m->file, path, err);
    if (st)
        goto fail;
    m->vt = model_lookup(&m->file.config, err);
    if (!m->vt) {
        st = err ? err->status : OWL_ERR_UNSUPPORTED;
        goto fail;
    }
    om->n_threads = ops_set_threads(p.n_threads);
    if (p.quant && strcmp(p.quant, "q8_0") != 0 && strcmp(p.quant, "q4_0") != 0) {
        st = fail(err, OWL_ERR_INVALID_ARG, "quant '%s' is not supported (owl quantizes at load to: q8_0, q4_0)",
                  p.quant);
        goto fail;
    }
    m->quant = p.quant != NULL;
    m->quant_dtype = p.quant && !strcmp(p.quant, "q4_0") ? DTYPE_Q4_0 : DTYPE_Q8_0;
    if (p.act && strcmp(p.act, "fp32") != 0 && strcmp(p.act, "bf16") != 0 && strcmp(p.act, "q8") != 0) {
        st = fail(err, OWL_ERR_INVALID_ARG, "act '%s' is not supported (fp32, bf16 or q8)", p.act);
        goto fail;
    }
    m->act = !p.act || !strcmp(p.act, "fp32") ? ACT_FP32 : !strcmp(p.act, "bf16") ? ACT_BF16 : ACT_Q8;
    if (p.load && strcmp(p.load, "auto") != 0 && strcmp(p.load, "mmap") != 0 && strcmp(p.load, "copy") != 0) {
        st = fail(err, OWL_ERR_INVALID_ARG, "load '%s' is not supported (auto, mmap or copy)", p.load);
        goto fail;
    }
    const bool copy = p.load && !strcmp(p.load, "copy");
    const bool automatic = !p.load || !strcmp(p.load, "auto");
    /* auto: the copy and the page cache's pages of the files both fit (else the copy would evict them, and every
     * later start would read the files from disk again); under act q8, the speed mode, the copy alone fitting in
     * three quarters of the memory available is enough (copied weights decode 10-20% faster on virtual machines,
     * and MXFP4 experts are regrouped for their kernel only in memory: prefill 1.5x) */
    const size_t file_bytes = model_file_bytes(&m->file), available = mem_available_bytes();
    const bool fits = file_bytes <= available / 2 || (m->act == ACT_Q8 && file_bytes <= available / 4 * 3);
    if (copy || (automatic && !p.quant && fits)) {
        if ((st = model_file_load(&m->file, err)))
            goto fail;
        om->in_memory = true;
    }
    if ((st = m->vt->load(m, err)))
        goto fail;
    model_file_warn_unused(&m->file);
    *out = om;
    return OWL_OK;
fail:
    owl_model_close(om);
    return st;
}

void owl_model_close(struct owl_model *om)
{
    if (!om)
        return;
    if (om->m.vt && om->m.vt->free_priv)
        om->m.vt->free_priv(&om->m);
    for (int i = 0; i < om->m.n_owned; i++)
        big_free(om->m.owned[i]);
    free(om->m.owned);
    model_file_close(&om->m.file);
    free(om);
}

int owl_model_weights_in_memory(const struct owl_model *om) { return om->in_memory; }
int owl_model_mxfp4_slabs(const struct owl_model *om) { return om->m.n_slabs; }
int owl_model_n_vocab(const struct owl_model *om) { return om->m.n_vocab; }
int owl_model_n_ctx_train(const struct owl_model *om) { return om->m.n_ctx_train; }
const char *owl_model_family(const struct owl_model *om) { return om->m.vt->family; }

void owl_model_touch(struct owl_model *om, void (*progress)(size_t done, size_t total, void *user), void *user)
{
    const struct model_file *mf = &om->m.file;
    size_t total = 0, done = 0, next = 0;
    const size_t step = (size_t)64 << 20, page = 4096;
    for (int k = 0; k < mf->n_maps; k++)
        total += mf->maps[k].size;
    for (int k = 0; k < mf->n_maps; k++) {
        const struct file_map *map = &mf->maps[k];
        if (!map->data || map->region) { /* empty, or read into memory already (every page touched) */
            done += map->size;
            continue;
        }
        madvise((void *)map->data, map->size, MADV_WILLNEED);
        volatile uint8_t sink = 0;
        for (size_t off = 0; off < map->size; off += page) {
            sink ^= map->data[off];
            if (progress && done + off >= next) {
                progress(done + off, total, user);
                next = done + off + step;
            }
        }
        (void)sink;
        done += map->size;
    }
    if (progress)
        progress(total, total, user);
}

/* The probe's buffer: allocated and touched by the first call, then kept for the process's life. Memory freed
 * and touched afresh costs a VM whose balloon returns free pages to its host a slow window for every buffer
 * (docs/BENCHMARKS.md: 30-33 GB/s for seconds after a 12 GB touch), which a probe between two generation runs
 * would bring on itself each time. */
static float *g_probe;
static pthread_mutex_t g_probe_lock = PTHREAD_MUTEX_INITIALIZER;
enum { PROBE_FLOATS = 128 << 20 }; /* 512 MiB */

double owl_read_bandwidth(int n_threads) { return owl_read_bandwidth_passes(n_threads).best; }

static int ascending(const void *a, const void *b)
{
    const double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

struct owl_bandwidth owl_read_bandwidth_passes(int n_threads)
{
    const size_t n = PROBE_FLOATS;
    const int threads = n_threads > 0 ? n_threads : omp_get_num_procs();
    kernels_init(0);
    pthread_mutex_lock(&g_probe_lock);
    if (!g_probe && (g_probe = big_alloc(n * sizeof(float))) != NULL) {
        float *buf = g_probe;
#pragma omp parallel for schedule(static) num_threads(threads) /* first touch (page zeroing) on every thread */
        for (size_t i = 0; i < n; i += 1024)
            buf[i] = 1.0f;
    }
    const float *buf = g_probe;
    enum { PASSES = 5 };
    double pass[PASSES] = {0};
    volatile float sink = 0.0f;
    for (int rep = 0; rep < PASSES && buf; rep++) {
        const double t0 = time_now();
        float total = 0.0f;
#pragma omp parallel num_threads(threads) reduction(+ : total)
        {
            const size_t per = n / (size_t)omp_get_num_threads() / 64 * 64;
            total += kern.sum_f32(buf + per * (size_t)omp_get_thread_num(), per);
        }
        pass[rep] = (double)(n * sizeof(float)) / (time_now() - t0);
        sink += total;
    }
    (void)sink;
    pthread_mutex_unlock(&g_probe_lock);
    qsort(pass, PASSES, sizeof *pass, ascending);
    return (struct owl_bandwidth){.best = pass[PASSES - 1], .median = pass[PASSES / 2]};
}

size_t owl_model_decode_bytes(const struct owl_model *om) { return om->m.decode_bytes; }
size_t owl_model_kv_bytes_per_token(const struct owl_model *om)
{
    return (size_t)om->m.kv.n_layer * (size_t)(om->m.kv.d_k + om->m.kv.d_v) * sizeof(float);
}
const char *owl_kernels_isa(void) { return kern.isa; }
int owl_model_n_threads(const struct owl_model *om) { return om->n_threads; }

void owl_model_describe(const struct owl_model *om, char *buf, size_t size)
{
    om->m.vt->describe(&om->m, buf, size);
}

enum owl_status owl_session_init(struct owl_model *om, const struct owl_session_params *params,
                                 struct owl_session **out, struct owl_error *err)
{
    *out = NULL;
    struct owl_session_params p = params ? *params : owl_session_default_params();
    const struct model *m = &om->m;
    if (p.kv && strcmp(p.kv, "f32") != 0 && strcmp(p.kv, "f16") != 0)
        return fail(err, OWL_ERR_INVALID_ARG, "kv '%s' is not a KV-cache type (f32, f16)", p.kv);
    const bool kv_f16 = p.kv && strcmp(p.kv, "f16") == 0;
    const size_t elem = kv_f16 ? 2 : sizeof(float);
    int n_ctx = p.n_ctx > 0 ? p.n_ctx : (m->n_ctx_train < 4096 ? m->n_ctx_train : 4096);
    int n_batch = p.n_batch > 0 ? p.n_batch : 512;
    if (n_batch > n_ctx)
        n_batch = n_ctx;
    struct owl_session *s = xcalloc(1, sizeof *s);
    s->model = om;
    s->n_ctx = n_ctx;
    s->n_batch = n_batch;
    s->kv_f16 = kv_f16;
    /* Sliding-window layers keep their recent positions only, where that is fewer rows than the context
     * (kv_window_rows; ring_make_room) */
    const struct kv_layout *kv = &m->kv;
    if (kv->n_window > 0 && kv->windowed && kv->window > 0 && p.window_rows >= 0) {
        const long want = kv_window_rows(kv->window, n_batch, p.window_rows);
        if (want < n_ctx)
            s->ring_rows = (int)want;
    }
    /* The layers' rows one after another, layer l's shifted on by l / n_layer of the rows a huge page holds, and the
     * values' cache half a huge page on from the keys': the kernel faults a cache's pages in as positions first
     * reach them, which in this VM costs 3-14 ms for a fresh 2 MiB page, and with every layer's rows on the same
     * page boundaries the token at each multiple of 512 positions (fp32 Qwen3-0.6B) took all 56 faults at once
     * (0.27-0.29 s, 11 tokens' time at 24 ms a token); now each token meets one or two at most. */
    s->row0 = xcalloc((size_t)kv->n_layer, sizeof *s->row0);
    const size_t k_row = (size_t)kv->d_k * elem, per_page = k_row && k_row < BIG_HUGE ? BIG_HUGE / k_row : 1;
    size_t rows = 0;
    for (int l = 0; l < kv->n_layer; l++) {
        s->row0[l] = rows + per_page * (size_t)l / (size_t)kv->n_layer;
        rows += s->ring_rows && kv->windowed[l] ? (size_t)s->ring_rows : (size_t)n_ctx;
    }
    rows += per_page * (size_t)(kv->n_layer - 1) / (size_t)kv->n_layer;
    size_t k_floats, v_floats, k_bytes, v_bytes;
    if (!size_mul(rows, (size_t)m->kv.d_k, &k_floats) || !size_mul(rows, (size_t)m->kv.d_v, &v_floats) ||
        !size_mul(k_floats, elem, &k_bytes) || !size_mul(v_floats, elem, &v_bytes) || v_bytes > SIZE_MAX - BIG_HUGE) {
        free(s->row0);
        free(s);
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "KV cache for n_ctx %d overflows size_t", n_ctx);
    }
    s->k_cache = big_alloc(k_bytes);
    s->v_mem = v_bytes ? big_alloc(v_bytes + BIG_HUGE / 2) : NULL;
    s->v_cache = s->v_mem ? (char *)s->v_mem + BIG_HUGE / 2 : NULL;
    s->scratch = big_alloc(m->vt->scratch_floats(m, n_batch, n_ctx) * sizeof(float));
    if (!s->k_cache || (v_bytes && !s->v_mem) || !s->scratch) {
        owl_session_free(s);
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "cannot allocate a KV cache of %zu bytes for n_ctx %d",
                    k_bytes + v_bytes, n_ctx);
    }
    *out = s;
    return OWL_OK;
}

void owl_session_free(struct owl_session *s)
{
    if (!s)
        return;
    big_free(s->k_cache);
    big_free(s->v_mem);
    big_free(s->scratch);
    free(s->row0);
    free(s);
}

int owl_session_n_past(const struct owl_session *s) { return s->n_past; }
int owl_session_n_ctx(const struct owl_session *s) { return s->n_ctx; }
size_t owl_session_kv_bytes_per_token(const struct owl_session *s)
{
    return owl_model_kv_bytes_per_token(s->model) / (s->kv_f16 ? 2 : 1);
}
size_t owl_session_kv_read_bytes(const struct owl_session *s, int n_keys)
{
    const struct kv_layout *kv = &s->model->m.kv;
    return kv_capped_bytes(owl_session_kv_bytes_per_token(s) / (size_t)kv->n_layer, kv->n_layer, kv->n_window,
                           (uint64_t)n_keys, (uint64_t)kv->window);
}

size_t owl_session_kv_bytes(const struct owl_session *s, int n_pos)
{
    if (n_pos < 0)
        n_pos = 0;
    const struct kv_layout *kv = &s->model->m.kv;
    return kv_capped_bytes(owl_session_kv_bytes_per_token(s) / (size_t)kv->n_layer, kv->n_layer,
                           s->ring_rows ? kv->n_window : 0, (uint64_t)n_pos, (uint64_t)s->ring_rows);
}

int owl_session_window_rows(const struct owl_session *s) { return s->ring_rows; }

int owl_session_can_keep(const struct owl_session *s, int n_keep)
{
    if (n_keep < 0)
        n_keep = 0;
    if (n_keep >= s->n_past)
        return s->n_past;
    /* the window the next position reads must still be in the rings' rows (from ring_base): else start over */
    if (s->ring_rows && n_keep > 0 && n_keep - s->model->m.kv.window + 1 < s->ring_base)
        return 0;
    return n_keep;
}

int owl_session_truncate(struct owl_session *s, int n_keep)
{
    s->n_past = owl_session_can_keep(s, n_keep);
    if (s->n_past == 0)
        s->ring_base = 0;
    return s->n_past;
}

/* Before a forward of n tokens: where the rings' rows would run out, the rows the window still needs (from the
 * multiple of 64 at or below the first position the next token reads) move down to row 0. A multiple of 64, so
 * the attention's key chunks fall where they would from position 0 (the same numbers); there are at most
 * window + 62 such rows, and ring_rows >= window + n_batch + 63 leaves room for the chunk. */
static void ring_make_room(struct owl_session *s, int n)
{
    if (!s->ring_rows || s->n_past + n - s->ring_base <= s->ring_rows)
        return;
    const struct kv_layout *kv = &s->model->m.kv;
    const int first = s->n_past - kv->window + 1, base = (first > 0 ? first : 0) / 64 * 64;
    const size_t elem = s->kv_f16 ? 2 : sizeof(float), keep = (size_t)(s->n_past - base);
    const size_t shift = (size_t)(base - s->ring_base);
    for (int l = 0; l < kv->n_layer; l++) {
        if (!kv->windowed[l])
            continue;
        char *k = (char *)s->k_cache + s->row0[l] * (size_t)kv->d_k * elem;
        memmove(k, k + shift * (size_t)kv->d_k * elem, keep * (size_t)kv->d_k * elem);
        if (s->v_cache) {
            char *v = (char *)s->v_cache + s->row0[l] * (size_t)kv->d_v * elem;
            memmove(v, v + shift * (size_t)kv->d_v * elem, keep * (size_t)kv->d_v * elem);
        }
    }
    s->ring_base = base;
}

/* A forward, its ops' threads held for it where its tokens are few (decode steps, alone or batched: many short ops,
 * each of which would otherwise open an OpenMP region; ops_pass). */
struct forward_call {
    const struct model *m;
    const struct forward_args *a;
};
static void forward_call(void *ctx)
{
    const struct forward_call *c = ctx;
    c->m->vt->forward(c->m, c->a);
}
static void run_forward(const struct model *m, const struct forward_args *a)
{
    if (a->n_tok < GEMM_MIN_TOKENS) /* (a prefill's regions are few and long) */
        ops_pass(forward_call, &(struct forward_call){m, a});
    else
        m->vt->forward(m, a);
}

enum owl_status owl_session_eval(struct owl_session *s, const int32_t *tokens, int n_tokens,
                                 enum owl_logits_mode mode, float *logits, struct owl_error *err)
{
    const struct model *m = &s->model->m;
    if (n_tokens <= 0 || !tokens)
        return fail(err, OWL_ERR_INVALID_ARG, "eval: n_tokens = %d, expected >= 1", n_tokens);
    if (mode != OWL_LOGITS_NONE && !logits)
        return fail(err, OWL_ERR_INVALID_ARG, "eval: logits buffer is NULL");
    for (int i = 0; i < n_tokens; i++)
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return fail(err, OWL_ERR_INVALID_ARG, "eval: token %d at index %d is out of range 0..%d", tokens[i],
                        i, m->n_vocab - 1);
    if (n_tokens > s->n_ctx - s->n_past)
        return fail(err, OWL_ERR_CONTEXT_FULL, "eval: %d tokens do not fit: %d of %d context positions used",
                    n_tokens, s->n_past, s->n_ctx);
    ops_set_act(m->act);
    for (int done = 0; done < n_tokens;) {
        const int n = n_tokens - done < s->n_batch ? n_tokens - done : s->n_batch;
        const bool last_chunk = done + n == n_tokens;
        float *out = NULL;
        if (mode == OWL_LOGITS_ALL)
            out = logits + (size_t)done * m->n_vocab;
        else if (mode == OWL_LOGITS_LAST && last_chunk)
            out = logits;
        ring_make_room(s, n);
        const struct forward_seq seq = {.n_tok = n, .n_past = s->n_past, .k_cache = s->k_cache,
                                        .v_cache = s->v_cache, .ring_base = s->ring_base};
        run_forward(m, &(struct forward_args){
            .tokens = tokens + done, .n_tok = n, .n_seq = 1, .seq = &seq, .n_ctx = s->n_ctx, .kv_f16 = s->kv_f16,
            .row0 = s->row0, .ring = s->ring_rows ? m->kv.windowed : NULL, .scratch = s->scratch, .logits = out,
            .all_logits = mode == OWL_LOGITS_ALL});
        s->n_past += n;
        done += n;
    }
    return OWL_OK;
}

enum owl_status owl_session_eval_batch(struct owl_session *const *sessions, const int32_t *tokens, int n,
                                       float *logits, struct owl_error *err)
{
    if (n <= 0 || !sessions || !tokens || !logits)
        return fail(err, OWL_ERR_INVALID_ARG, "eval_batch: n = %d sessions (expected >= 1) or a NULL argument", n);
    const struct owl_session *s0 = sessions[0];
    if (!s0)
        return fail(err, OWL_ERR_INVALID_ARG, "eval_batch: session 0 is NULL");
    const struct model *m = &s0->model->m;
    for (int i = 0; i < n; i++) {
        const struct owl_session *s = sessions[i];
        if (!s)
            return fail(err, OWL_ERR_INVALID_ARG, "eval_batch: session %d is NULL", i);
        if (s->model != s0->model || s->n_ctx != s0->n_ctx || s->kv_f16 != s0->kv_f16 ||
            s->ring_rows != s0->ring_rows)
            return fail(err, OWL_ERR_INVALID_ARG,
                        "eval_batch: session %d has another model, n_ctx (%d), kv type (%s) or window rows (%d) than "
                        "session 0 (n_ctx %d, kv %s, window rows %d)", i, s->n_ctx, s->kv_f16 ? "f16" : "f32",
                        s->ring_rows, s0->n_ctx, s0->kv_f16 ? "f16" : "f32", s0->ring_rows);
        if (tokens[i] < 0 || tokens[i] >= m->n_vocab)
            return fail(err, OWL_ERR_INVALID_ARG, "eval_batch: token %d of session %d is out of range 0..%d",
                        tokens[i], i, m->n_vocab - 1);
        if (s->n_past >= s->n_ctx)
            return fail(err, OWL_ERR_CONTEXT_FULL, "eval_batch: session %d is full (%d of %d context positions)", i,
                        s->n_past, s->n_ctx);
        for (int j = 0; j < i; j++)
            if (sessions[j] == s)
                return fail(err, OWL_ERR_INVALID_ARG, "eval_batch: sessions %d and %d are the same session", j, i);
    }
    const int group = s0->n_batch;
    struct forward_seq *seq = xcalloc((size_t)(n < group ? n : group), sizeof *seq);
    ops_set_row_exact(n > 1);
    ops_set_act(m->act);
    for (int g0 = 0; g0 < n; g0 += group) {
        const int ng = n - g0 < group ? n - g0 : group;
        for (int i = 0; i < ng; i++) {
            struct owl_session *s = sessions[g0 + i];
            ring_make_room(s, 1);
            seq[i] = (struct forward_seq){.n_tok = 1, .n_past = s->n_past, .k_cache = s->k_cache,
                                          .v_cache = s->v_cache, .ring_base = s->ring_base};
        }
        run_forward(m, &(struct forward_args){
            .tokens = tokens + g0, .n_tok = ng, .n_seq = ng, .seq = seq, .n_ctx = s0->n_ctx, .kv_f16 = s0->kv_f16,
            .row0 = s0->row0, .ring = s0->ring_rows ? m->kv.windowed : NULL, .scratch = s0->scratch,
            .logits = logits + (size_t)g0 * m->n_vocab, .all_logits = false});
        for (int i = 0; i < ng; i++)
            sessions[g0 + i]->n_past++;
    }
    ops_set_row_exact(false);
    free(seq);
    return OWL_OK;
}
