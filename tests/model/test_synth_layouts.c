/* test_synth_layouts.c — owl_synth (`owl synth`) on small configs of the four layouts (tests/fixtures/synth/)
 * with the families' real tokenizers (.testdata/tokenizers; skipped without them):
 * - every safetensors output loads in owl with its tokenizer and runs (finite logits, greedy tokens);
 * - the same seed writes the same bytes, another seed other bytes; --layers rewrites the config;
 * - the GGUF (BF16) gives the safetensors output's logits: exactly (Qwen3, Qwen3-MoE, gpt-oss) or within
 *   1e-5 of their scale (DeepSeek: the split attn_k_b/attn_v_b's order of operations); Q8_0 GGUF stays close;
 * - gpt-oss and DeepSeek GGUF: the tensors llama.cpp reads are also decoded here
 *   with an independent reader of the GGUF layout and compared value for value with the safetensors
 *   output decoded by owl's kernels: MXFP4 experts repacked and split into gate/up, biases split, attention
 *   sinks; DeepSeek's FP8 weights dequantized, kv_b_proj split into attn_k_b (transposed) and attn_v_b,
 *   experts stacked;
 * - bad input: an existing non-empty output, a tokenizer larger than the vocabulary, an unknown release.
 * The full-size outputs (qwen3-0.6b and gpt-oss-20b with --layers 1) are test_synth_cli (label slow). */
#include <math.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "format/model_file.h"
#include "kernels/kernels.h"
#include "owl.h"
#include "test_util.h"

static const char *const families[][2] = {{"qwen3", "qwen3"}, {"qwen3_moe", "qwen3"}, {"gpt_oss", "gptoss"},
                                          {"deepseek_v3", "deepseek_v3"}};

static char tok_dirs[4][4096];

static enum owl_status synth(int fam, const char *out, enum owl_synth_format format, enum owl_synth_type type,
                             uint64_t seed, int n_layers, struct owl_error *err)
{
    char config[1024];
    snprintf(config, sizeof config, "%s", fixture_path("synth"));
    snprintf(config + strlen(config), sizeof config - strlen(config), "/%s.json", families[fam][0]);
    struct owl_synth_params p = owl_synth_default_params();
    p.config_path = config;
    p.out = out;
    p.tokenizer_dir = tok_dirs[fam];
    p.format = format;
    p.type = type;
    p.seed = seed;
    p.n_layers = n_layers;
    p.force = 1;
    return owl_synth(&p, err);
}

static const int32_t prompt[] = {9707, 11, 1879, 0, 13, 220};
enum { N_PROMPT = 6 };

/* The logits of every prompt position (malloc'd, N_PROMPT x vocab), NULL when the model does not load. */
static float *logits_of(const char *path, int *n_vocab)
{
    struct owl_model *m = NULL;
    struct owl_session *s = NULL;
    struct owl_error err = {0};
    struct owl_model_params mp = owl_model_default_params();
    mp.n_threads = 2;
    float *out = NULL;
    if (owl_model_open(path, &mp, &m, &err) == OWL_OK) {
        struct owl_session_params sp = owl_session_default_params();
        sp.n_ctx = 64;
        *n_vocab = owl_model_n_vocab(m);
        out = malloc(sizeof *out * (size_t)*n_vocab * N_PROMPT);
        if (owl_session_init(m, &sp, &s, &err) != OWL_OK ||
            owl_session_eval(s, prompt, N_PROMPT, OWL_LOGITS_ALL, out, &err) != OWL_OK) {
            free(out);
            out = NULL;
        }
    }
    CHECK_MSG(out, "%s: %s", path, err.message);
    owl_session_free(s);
    owl_model_close(m);
    return out;
}

static void check_sane(const float *x, size_t n, const char *what)
{
    double sum2 = 0, mx = 0;
    bool finite = true;
    for (size_t i = 0; i < n; i++) {
        finite &= isfinite(x[i]) != 0;
        sum2 += (double)x[i] * x[i];
        mx = fmax(mx, fabs(x[i]));
    }
    const double rms = sqrt(sum2 / (double)n);
    CHECK_MSG(finite && rms > 1e-3 && mx < 100, "%s: logits rms %g max %g (finite %d)", what, rms, mx, finite);
}

/* ---- an independent reader of the GGUF layout (ggml/docs/gguf.md), enough to find tensors ---------- */

struct gt {
    char name[96];
    uint32_t type;
    uint64_t ne[4];
    const uint8_t *data;
};

struct gfile {
    uint8_t *image;
    struct gt t[512];
    int n;
};

static uint64_t rd64(const uint8_t **p) { uint64_t v; memcpy(&v, *p, 8); *p += 8; return v; }
static uint32_t rd32(const uint8_t **p) { uint32_t v; memcpy(&v, *p, 4); *p += 4; return v; }

static void skip_value(const uint8_t **p, uint32_t type)
{
    static const int size[] = {1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8};
    if (type == 8) {
        const uint64_t len = rd64(p);
        *p += len;
    } else if (type == 9) {
        const uint32_t et = rd32(p);
        for (uint64_t i = 0, n = rd64(p); i < n; i++)
            skip_value(p, et);
    } else {
        *p += size[type];
    }
}

static bool gfile_open(struct gfile *g, const char *path)
{
    size_t size;
    memset(g, 0, sizeof *g);
    g->image = read_file(path, &size);
    if (!g->image || memcmp(g->image, "GGUF", 4))
        return false;
    const uint8_t *p = g->image + 8;
    const uint64_t n_t = rd64(&p), n_kv = rd64(&p);
    for (uint64_t i = 0; i < n_kv; i++) {
        const uint64_t len = rd64(&p);
        p += len;
        skip_value(&p, rd32(&p));
    }
    uint64_t offs[512];
    for (uint64_t i = 0; i < n_t && i < 512; i++, g->n++) {
        struct gt *t = &g->t[i];
        const uint64_t len = rd64(&p);
        snprintf(t->name, sizeof t->name, "%.*s", (int)len, (const char *)p);
        p += len;
        const uint32_t nd = rd32(&p);
        for (uint32_t d = 0; d < 4; d++)
            t->ne[d] = d < nd ? rd64(&p) : 1;
        t->type = rd32(&p);
        offs[i] = rd64(&p);
    }
    const size_t head = (size_t)(p - g->image), data = (head + 31) / 32 * 32;
    for (int i = 0; i < g->n; i++)
        g->t[i].data = g->image + data + offs[i];
    return true;
}

static const struct gt *gfind(const struct gfile *g, const char *name)
{
    for (int i = 0; i < g->n; i++)
        if (!strcmp(g->t[i].name, name))
            return &g->t[i];
    CHECK_MSG(0, "GGUF tensor %s missing", name);
    return NULL;
}

/* Row r (ne[0] values) of a GGUF tensor of type F32, BF16 or MXFP4, decoded from the GGML layouts. */
static void grow(const struct gt *t, uint64_t r, float *out)
{
    const uint64_t n = t->ne[0];
    if (t->type == 0) {
        memcpy(out, t->data + r * n * 4, n * 4);
    } else if (t->type == 30) {
        for (uint64_t i = 0; i < n; i++) {
            uint16_t h;
            memcpy(&h, t->data + (r * n + i) * 2, 2);
            out[i] = bf16_to_f32(h);
        }
    } else { /* MXFP4: per 32 values a block {E8M0 scale; 16 bytes: value j in the low nibble of byte j, j+16 high} */
        static const float e2m1[16] = {0, .5f, 1, 1.5f, 2, 3, 4, 6, -0.f, -.5f, -1, -1.5f, -2, -3, -4, -6};
        const uint8_t *b = t->data + r * (n / 32) * 17;
        for (uint64_t k = 0; k < n / 32; k++, b += 17)
            for (int j = 0; j < 32; j++)
                out[k * 32 + j] = ldexpf(e2m1[(b[1 + j % 16] >> (j < 16 ? 0 : 4)) & 15], b[0] - 127);
    }
}

/* Row r of a safetensors tensor decoded by owl's kernels: BF16, F32, MXFP4 blocks (name ends _blocks; its
 * _scales beside it), FP8 (with weight_scale_inv). */
static void srow(struct model_file *mf, const char *name, int64_t r, float *out, int *n_out)
{
    const struct tensor_view *t = tensor_table_find(&mf->tensors, name);
    CHECK_MSG(t, "safetensors tensor %s missing", name);
    if (!t)
        return;
    const int64_t n = t->dtype == DTYPE_U8 ? t->shape[t->n_dim - 2] * 32 : t->shape[t->n_dim - 1];
    *n_out = (int)n;
    if (t->dtype == DTYPE_BF16) {
        dequantize_row_bf16(out, (const uint8_t *)t->data + r * n * 2, (int)n);
    } else if (t->dtype == DTYPE_F32) {
        memcpy(out, (const uint8_t *)t->data + r * n * 4, (size_t)n * 4);
    } else if (t->dtype == DTYPE_U8) {
        char sname[200];
        snprintf(sname, sizeof sname, "%.*s_scales", (int)(strlen(name) - 7), name);
        const struct tensor_view *s = tensor_table_find(&mf->tensors, sname);
        dequantize_row_mxfp4(out, (const uint8_t *)t->data + r * n / 2, (const uint8_t *)s->data + r * n / 32, (int)n);
    } else {
        char sname[200];
        snprintf(sname, sizeof sname, "%s_scale_inv", name);
        const struct tensor_view *s = tensor_table_find(&mf->tensors, sname);
        dequantize_row_fp8(out, (const uint8_t *)t->data + r * n, (const float *)s->data + (r / 128) * s->shape[1], (int)n);
    }
}

static int n_compared;

/* GGUF row gr of gname equals safetensors row sr of sname (every value, exactly); par >= 0 takes every
 * second safetensors value from offset par (gpt-oss's interleaved gate/up biases). */
static void same_row(const struct gfile *g, const char *gname, uint64_t gr, struct model_file *mf, const char *sname,
                     int64_t sr, int par)
{
    const struct gt *t = gfind(g, gname);
    if (!t)
        return;
    float a[4096], b[8192];
    int n = 0;
    grow(t, gr, a);
    srow(mf, sname, sr, b, &n);
    const int step = par >= 0 ? 2 : 1, off = par >= 0 ? par : 0;
    CHECK_MSG((uint64_t)n == t->ne[0] * (uint64_t)step, "%s: row of %llu values, %s of %d", gname,
              (unsigned long long)t->ne[0], sname, n);
    int bad = 0;
    for (uint64_t i = 0; i < t->ne[0]; i++)
        bad += a[i] != b[i * step + off];
    CHECK_MSG(bad == 0, "%s row %llu != %s row %lld: %d values differ", gname, (unsigned long long)gr, sname,
              (long long)sr, bad);
    n_compared++;
}

static void check_gpt_oss_gguf(const char *gguf, const char *dir)
{
    struct gfile g;
    struct model_file mf;
    struct owl_error err;
    CHECK(gfile_open(&g, gguf));
    CHECK_OK(model_file_open(&mf, dir, &err), &err);
    const int E = 4, I = 64, H = 64;
    for (int e = 0; e < E; e += 3)
        for (int r = 0; r < I; r += 21) { /* gate = even rows of gate_up, up = odd rows */
            same_row(&g, "blk.1.ffn_gate_exps.weight", (uint64_t)(e * I + r), &mf,
                     "model.layers.1.mlp.experts.gate_up_proj_blocks", e * 2 * I + 2 * r, -1);
            same_row(&g, "blk.1.ffn_up_exps.weight", (uint64_t)(e * I + r), &mf,
                     "model.layers.1.mlp.experts.gate_up_proj_blocks", e * 2 * I + 2 * r + 1, -1);
            same_row(&g, "blk.1.ffn_down_exps.weight", (uint64_t)(e * H + r), &mf,
                     "model.layers.1.mlp.experts.down_proj_blocks", e * H + r, -1);
        }
    for (int e = 0; e < E; e++) {
        same_row(&g, "blk.0.ffn_gate_exps.bias", (uint64_t)e, &mf, "model.layers.0.mlp.experts.gate_up_proj_bias", e, 0);
        same_row(&g, "blk.0.ffn_up_exps.bias", (uint64_t)e, &mf, "model.layers.0.mlp.experts.gate_up_proj_bias", e, 1);
        same_row(&g, "blk.0.ffn_down_exps.bias", (uint64_t)e, &mf, "model.layers.0.mlp.experts.down_proj_bias", e, -1);
    }
    same_row(&g, "blk.1.attn_sinks.weight", 0, &mf, "model.layers.1.self_attn.sinks", 0, -1);
    same_row(&g, "blk.1.post_attention_norm.weight", 0, &mf, "model.layers.1.post_attention_layernorm.weight", 0, -1);
    same_row(&g, "blk.0.ffn_gate_inp.weight", 3, &mf, "model.layers.0.mlp.router.weight", 3, -1);
    same_row(&g, "blk.0.attn_q.bias", 0, &mf, "model.layers.0.self_attn.q_proj.bias", 0, -1);
    same_row(&g, "output.weight", 200000, &mf, "lm_head.weight", 200000, -1);
    const struct gt *gate = gfind(&g, "blk.0.ffn_gate_exps.weight");
    CHECK(gate && gate->type == 39 && gate->ne[0] == (uint64_t)H && gate->ne[1] == (uint64_t)I && gate->ne[2] == (uint64_t)E);
    model_file_close(&mf);
    free(g.image);
}

static void check_deepseek_gguf(const char *gguf, const char *dir)
{
    struct gfile g;
    struct model_file mf;
    struct owl_error err;
    CHECK(gfile_open(&g, gguf));
    CHECK_OK(model_file_open(&mf, dir, &err), &err);
    enum { NH = 4, NOPE = 32, DV = 32, RANK = 64 };
    /* attn_v_b (H, v, rank): row (h, j) = kv_b row h*(nope+v) + nope + j */
    for (int h = 0; h < NH; h++)
        for (int j = 0; j < DV; j += 7)
            same_row(&g, "blk.1.attn_v_b.weight", (uint64_t)(h * DV + j), &mf, "model.layers.1.self_attn.kv_b_proj.weight",
                     h * (NOPE + DV) + NOPE + j, -1);
    /* attn_k_b (H, rank, nope): row (h, c), value k = kv_b[h*(nope+v) + k][c] */
    const struct gt *kb = gfind(&g, "blk.0.attn_k_b.weight");
    int bad = 0;
    for (int h = 0; kb && h < NH; h++)
        for (int k = 0; k < NOPE; k++) {
            float srow_v[RANK], grow_v[NOPE];
            int n;
            char name[] = "model.layers.0.self_attn.kv_b_proj.weight";
            srow(&mf, name, h * (NOPE + DV) + k, srow_v, &n);
            for (int c = 0; c < RANK; c += 5) {
                grow(kb, (uint64_t)(h * RANK + c), grow_v);
                bad += grow_v[k] != srow_v[c];
            }
        }
    CHECK_MSG(kb && kb->ne[0] == NOPE && kb->ne[1] == RANK && kb->ne[2] == NH && bad == 0, "attn_k_b: %d values differ", bad);
    for (int e = 0; e < 8; e += 3) { /* stacked (E, out, in): expert e's rows follow expert e-1's */
        char name[96];
        snprintf(name, sizeof name, "model.layers.1.mlp.experts.%d.down_proj.weight", e);
        same_row(&g, "blk.1.ffn_down_exps.weight", (uint64_t)(e * 128 + 5), &mf, name, 5, -1);
    }
    same_row(&g, "blk.1.ffn_gate_exps.weight", 7 * 64 + 9, &mf, "model.layers.1.mlp.experts.7.gate_proj.weight", 9, -1);
    same_row(&g, "blk.1.ffn_up_shexp.weight", 3, &mf, "model.layers.1.mlp.shared_experts.up_proj.weight", 3, -1);
    same_row(&g, "blk.1.exp_probs_b.bias", 0, &mf, "model.layers.1.mlp.gate.e_score_correction_bias", 0, -1);
    same_row(&g, "blk.0.attn_q_b.weight", 100, &mf, "model.layers.0.self_attn.q_b_proj.weight", 100, -1);
    same_row(&g, "blk.0.attn_kv_a_mqa.weight", 70, &mf, "model.layers.0.self_attn.kv_a_proj_with_mqa.weight", 70, -1);
    same_row(&g, "blk.0.ffn_down.weight", 127, &mf, "model.layers.0.mlp.down_proj.weight", 127, -1);
    for (int i = 0; i < g.n; i++)
        CHECK_MSG(strncmp(g.t[i].name, "blk.2.", 6) != 0, "GGUF holds the MTP layer (%s)", g.t[i].name);
    model_file_close(&mf);
    free(g.image);
}

int main(void)
{
    bool have = true;
    for (int f = 0; f < 4; f++) {
        char rel[64], probe[sizeof tok_dirs + 32];
        snprintf(rel, sizeof rel, "tokenizers/%s", families[f][1]);
        snprintf(tok_dirs[f], sizeof tok_dirs[f], "%s", testdata_path(rel));
        snprintf(probe, sizeof probe, "%s/tokenizer.json", tok_dirs[f]);
        struct stat sb;
        have &= stat(probe, &sb) == 0;
    }
    if (!have) {
        printf("SKIP test_synth_layouts: no .testdata/tokenizers (run scripts/fetch-testdata.sh)\n");
        return test_done("test_synth_layouts");
    }
    struct owl_error err;
    char st_dir[4096], gguf[4096], q8[4096], other[4096];
    for (int f = 0; f < 4; f++) {
        const char *fam = families[f][0];
        snprintf(st_dir, sizeof st_dir, "%s/%s", test_tmpdir(), fam);
        snprintf(gguf, sizeof gguf, "%s/%s.gguf", test_tmpdir(), fam);
        snprintf(q8, sizeof q8, "%s/%s-q8_0.gguf", test_tmpdir(), fam);
        CHECK_OK(synth(f, st_dir, OWL_SYNTH_SAFETENSORS, OWL_SYNTH_BF16, 7, 0, &err), &err);
        CHECK_OK(synth(f, gguf, OWL_SYNTH_GGUF, OWL_SYNTH_BF16, 7, 0, &err), &err);
        if (f <= 1)
            CHECK_OK(synth(f, q8, OWL_SYNTH_GGUF, OWL_SYNTH_Q8_0, 7, 0, &err), &err);
        int nv = 0, nv2 = 0;
        float *a = logits_of(st_dir, &nv);
        if (a)
            check_sane(a, (size_t)nv * N_PROMPT, fam);
        struct owl_tokenizer *tok = NULL;
        CHECK_OK(owl_tokenizer_open(st_dir, &tok, &err), &err);
        owl_tokenizer_free(tok);
        float *b = logits_of(gguf, &nv2), *c = f <= 1 ? logits_of(q8, &nv2) : NULL;
        double d2 = 0, r2 = 0, maxd = 0, maxa = 0;
        for (size_t i = 0; a && b && i < (size_t)nv * N_PROMPT; i++) {
            maxd = fmax(maxd, fabs((double)a[i] - b[i]));
            maxa = fmax(maxa, fabs((double)a[i]));
            d2 += c ? ((double)a[i] - c[i]) * ((double)a[i] - c[i]) : 0;
            r2 += (double)a[i] * a[i];
        }
        CHECK_MSG(a && b && nv == nv2 && maxd <= (f == 3 ? 1e-5 * maxa : 0), "%s: GGUF BF16 logits differ from "
                  "safetensors by %g (scale %g)", fam, maxd, maxa);
        CHECK_MSG(f > 1 || (c && sqrt(d2 / r2) < 0.05), "%s: GGUF Q8_0 logits off by %.3g relative", fam, sqrt(d2 / r2));
        free(b);
        free(c);
        if (f == 2) {
            check_gpt_oss_gguf(gguf, st_dir);
        } else if (f == 3) {
            check_deepseek_gguf(gguf, st_dir);
        }
        free(a);
    }
    CHECK_MSG(n_compared > 30, "only %d rows compared", n_compared);

    /* determinism: the same seed writes the same bytes, another seed others; --layers sets the config */
    snprintf(st_dir, sizeof st_dir, "%s/qwen3/model.safetensors", test_tmpdir());
    snprintf(other, sizeof other, "%s/again", test_tmpdir());
    CHECK_OK(synth(0, other, OWL_SYNTH_SAFETENSORS, OWL_SYNTH_BF16, 7, 0, &err), &err);
    size_t n1, n2;
    char path[4200];
    snprintf(path, sizeof path, "%s/model.safetensors", other);
    uint8_t *x = read_file(st_dir, &n1), *y = read_file(path, &n2);
    CHECK(x && y && n1 == n2 && memcmp(x, y, n1) == 0);
    free(y);
    CHECK_OK(synth(0, other, OWL_SYNTH_SAFETENSORS, OWL_SYNTH_BF16, 8, 1, &err), &err);
    y = read_file(path, &n2);
    CHECK(y && n2 < n1 && memcmp(x + n2 - 4096, y + n2 - 4096, 4096) != 0);
    free(x);
    free(y);
    struct model_file mf;
    CHECK_OK(model_file_open(&mf, other, &err), &err);
    int64_t layers = 0, window = 0;
    kv_get_int(&mf.config, "num_hidden_layers", &layers, &err);
    kv_get_int(&mf.config, "max_window_layers", &window, &err);
    CHECK(layers == 1 && window == 1 && tensor_table_find(&mf.tensors, "model.layers.0.mlp.up_proj.weight") &&
          !tensor_table_find(&mf.tensors, "model.layers.1.mlp.up_proj.weight"));
    model_file_close(&mf);

    /* refusals, each leaving nothing behind */
    struct owl_synth_params p = owl_synth_default_params();
    p.like = "qwen3-0.6b";
    p.out = other;
    p.tokenizer_dir = tok_dirs[0];
    CHECK(owl_synth(&p, &err) == OWL_ERR_INVALID_ARG && strstr(err.message, "not empty"));
    p.like = "qwen3-0.7b";
    CHECK(owl_synth(&p, &err) == OWL_ERR_INVALID_ARG && strstr(err.message, "qwen3-0.7b"));
    snprintf(path, sizeof path, "%s/new", test_tmpdir());
    p.like = "deepseek-v3";
    p.out = path;
    p.tokenizer_dir = tok_dirs[2]; /* o200k: ids past DeepSeek's 129280 */
    CHECK(owl_synth(&p, &err) == OWL_ERR_INVALID_ARG && strstr(err.message, "vocab_size 129280"));
    struct stat sb;
    CHECK(stat(path, &sb) != 0);
    return test_done("test_synth_layouts");
}
