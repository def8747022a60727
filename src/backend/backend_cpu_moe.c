/* backend_cpu_moe.c — the mixture-of-experts ops of ops.h on the CPU: routing (Qwen3-MoE, GPT-OSS,
 * DeepSeek-V3 noaux_tc, DeepSeek-V2 greedy and group-limited), the clamped SwiGLU of GPT-OSS, and expert
 * dispatch (gather each expert's tokens, run them as one batch through op_matmul, add the weighted outputs
 * back).
 *
 * Mirrors transformers 5.17's eager experts (Qwen3MoeExperts, GptOssExperts, DeepseekV3Experts): experts
 * are visited in ascending id, and each token's output is ((0 + w_a*y_a) + w_b*y_b) + ... in that order.
 */
#include <math.h>
#include <string.h>

#include "backend/ops.h"
#include "backend/team.h"
#include "kernels/kernels.h"

/* Indices of the k largest of v[0..n) by descending value, equal values in ascending index (k small:
 * repeated selection). */
static void top_k(int32_t *ids, const float *v, int n, int k)
{
    for (int j = 0; j < k; j++) {
        int best = -1;
        for (int i = 0; i < n; i++) {
            bool taken = false;
            for (int q = 0; q < j; q++)
                taken |= ids[q] == i;
            if (!taken && (best < 0 || v[i] > v[best]))
                best = i;
        }
        ids[j] = best;
    }
}

/* DeepSeek's group-limited selection: keep the topk_group best of n_group groups (consecutive ids), a
 * group's score being the sum of its two best c (top2) or its best c; every other expert's c becomes
 * `masked`. c: (n_expert), in place. */
static void limit_groups(float *c, const struct router_params *p, bool top2, float masked)
{
    const int G = p->n_group, per = p->n_expert / G;
    float gscore[G];
    int32_t kept[G];
    for (int g = 0; g < G; g++) {
        float b1 = -INFINITY, b2 = -INFINITY;
        for (int e = g * per; e < (g + 1) * per; e++) {
            if (c[e] > b1) {
                b2 = b1;
                b1 = c[e];
            } else if (c[e] > b2) {
                b2 = c[e];
            }
        }
        gscore[g] = top2 ? b1 + b2 : b1;
    }
    top_k(kept, gscore, G, p->topk_group);
    for (int g = 0; g < G; g++) {
        bool keep = false;
        for (int j = 0; j < p->topk_group; j++)
            keep |= kept[j] == g;
        for (int e = g * per; !keep && e < (g + 1) * per; e++)
            c[e] = masked;
    }
}

void op_moe_route(int32_t *ids, float *weights, const float *logits, int n_tok, const struct router_params *p)
{
    const int E = p->n_expert, k = p->k;
    const bool grouped = p->n_group > 1;
    OWL_ASSERT(k >= 1 && k <= E);
    OWL_ASSERT(!grouped || (p->kind != ROUTER_TOPK_SOFTMAX && E % p->n_group == 0 && p->topk_group >= 1 &&
                            p->topk_group <= p->n_group && k <= p->topk_group * (E / p->n_group)));
    OWL_ASSERT(p->kind != ROUTER_SIGMOID_NOAUX || p->bias);
    OWL_ASSERT(p->kind == ROUTER_SOFTMAX_TOPK || p->kind == ROUTER_TOPK_SOFTMAX || p->kind == ROUTER_SIGMOID_NOAUX);
    const bool noaux = p->kind == ROUTER_SIGMOID_NOAUX;
    float s[E], c[E]; /* the scores weights are taken from, and the scores experts are selected by */
    for (int t = 0; t < n_tok; t++) {
        const float *l = logits + (size_t)t * E;
        int32_t *id = ids + (size_t)t * k;
        float *w = weights + (size_t)t * k;
        if (p->kind == ROUTER_TOPK_SOFTMAX) {
            top_k(id, l, E, k);
            const float m = l[id[0]];
            float sum = 0.0f;
            for (int j = 0; j < k; j++) {
                w[j] = expf(l[id[j]] - m);
                sum += w[j];
            }
            for (int j = 0; j < k; j++)
                w[j] /= sum;
        } else {
            if (noaux) {
                for (int e = 0; e < E; e++) {
                    s[e] = 1.0f / (1.0f + expf(-l[e]));
                    c[e] = s[e] + p->bias[e]; /* the bias only selects */
                }
            } else {
                /* softmax over all experts; the top-k of the probabilities (ties and weights come from the
                 * probabilities, as in HF) */
                float m = l[0], sum = 0.0f;
                for (int e = 1; e < E; e++)
                    m = fmaxf(m, l[e]);
                for (int e = 0; e < E; e++)
                    sum += s[e] = expf(l[e] - m);
                for (int e = 0; e < E; e++)
                    c[e] = s[e] /= sum;
            }
            if (grouped) /* transformers 5.17 masks V3's other groups with -inf, V2's with 0.0 */
                limit_groups(c, p, noaux, noaux ? -INFINITY : 0.0f);
            top_k(id, c, E, k);
            float wsum = 0.0f;
            for (int j = 0; j < k; j++) {
                w[j] = s[id[j]];
                wsum += w[j];
            }
            if (p->norm_topk) /* DeepseekV3TopkRouter divides by sum + 1e-20, Qwen3MoeTopKRouter by the sum */
                for (int j = 0; j < k; j++)
                    w[j] /= noaux ? wsum + 1e-20f : wsum;
        }
        if (p->scale != 0.0f)
            for (int j = 0; j < k; j++)
                w[j] *= p->scale;
    }
}

struct swiglu_oai_rows {
    float *out;
    const float *gate, *up;
    int step, row, d_ff;
    float alpha, limit;
};
static void swiglu_oai_row(const void *ctx, size_t t)
{
    const struct swiglu_oai_rows *a = ctx;
    kern.swiglu_oai_f32(a->out + t * (size_t)a->d_ff, a->gate + t * (size_t)a->row, a->up + t * (size_t)a->row,
                        a->step, a->d_ff, a->alpha, a->limit);
}

void op_swiglu_oai(float *out, const float *gate, const float *up, int step, int row, int n, int d_ff, float alpha,
                   float limit)
{
    team_for((size_t)n, swiglu_oai_row, &(struct swiglu_oai_rows){out, gate, up, step, row, d_ff, alpha, limit},
             (size_t)n * d_ff >= 8192);
}

/* Scratch pieces start on 64-byte boundaries. */
static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

/* One token's experts run together (op_matmul_many) when it has at most this many. */
enum { MOE_ONE_TOKEN_MAX = 8 };

size_t moe_scratch_floats(const struct moe_ffn *f, int n_tok)
{
    const size_t n = (size_t)n_tok, m = n < MOE_ONE_TOKEN_MAX ? MOE_ONE_TOKEN_MAX : n; /* rows of y, h and u */
    return round16(n * f->d_model) + round16(m * f->d_model) /* gathered x, expert output y */
         + round16(m * 2 * f->d_ff)         /* gate (or fused gate_up) */
         + round16(m * f->d_ff)             /* up, then the activation */
         + round16(n) * 2;                  /* token index, routing weight */
}

/* Expert e's gate/up matmuls on x (one fused gate_up job or two), writing h (gate or gate_up rows) and u (up rows);
 * their count. */
static int gate_up_jobs(const struct moe_ffn *f, int e, const float *x, float *h, float *u, struct matmul_job *jobs)
{
    const int d_ff = f->d_ff;
    if (f->gate_up) {
        jobs[0] = (struct matmul_job){h, x, &f->gate_up[e], f->gate_up_bias ? f->gate_up_bias + (size_t)e * 2 * d_ff : NULL};
        return 1;
    }
    jobs[0] = (struct matmul_job){h, x, &f->gate[e], f->gate_bias ? f->gate_bias + (size_t)e * d_ff : NULL};
    jobs[1] = (struct matmul_job){u, x, &f->up[e], f->up_bias ? f->up_bias + (size_t)e * d_ff : NULL};
    return 2;
}

/* Expert e's down matmul from the activations u into y. */
static struct matmul_job down_job(const struct moe_ffn *f, int e, const float *u, float *y)
{
    return (struct matmul_job){y, u, &f->down[e], f->down_bias ? f->down_bias + (size_t)e * f->d_model : NULL};
}

/* The activations of n rows (tokens of one expert, or one token's experts) into u, from h and u as gate_up_jobs
 * left them. */
static void expert_act(const struct moe_ffn *f, float *u, const float *h, int n)
{
    const int d_ff = f->d_ff;
    if (f->gate_up) {
        OWL_ASSERT(f->act == EXPERT_ACT_SWIGLU_OAI);
        op_swiglu_oai(u, h, h + 1, 2, 2 * d_ff, n, d_ff, f->alpha, f->limit);
    } else if (f->act == EXPERT_ACT_SWIGLU_OAI) {
        op_swiglu_oai(u, h, u, 1, d_ff, n, d_ff, f->alpha, f->limit);
    } else {
        op_swiglu(u, h, u, (size_t)n * d_ff);
    }
}

/* One token (decode): its k experts' gate/up matmuls in one parallel region, their activations, their down
 * matmuls in another (op_matmul_many), then the outputs added in ascending expert id: the numbers of the loop in
 * op_moe, bit for bit. y (k, d_model), h (k, 2 d_ff), u (k, d_ff). */
static void moe_one_token(const struct moe_args *a, float *y, float *h, float *u)
{
    const struct moe_ffn *f = a->ffn;
    const int d = f->d_model, d_ff = f->d_ff, k = a->k;
    int32_t e[MOE_ONE_TOKEN_MAX];
    float wt[MOE_ONE_TOKEN_MAX];
    for (int j = 0; j < k; j++) { /* ascending id (insertion sort; the ids are distinct) */
        int i = j;
        for (; i > 0 && e[i - 1] > a->ids[j]; i--)
            e[i] = e[i - 1], wt[i] = wt[i - 1];
        e[i] = a->ids[j], wt[i] = a->weights[j];
    }
    struct matmul_job jobs[2 * MOE_ONE_TOKEN_MAX] = {0};
    int n_jobs = 0;
    const int h_row = f->gate_up ? 2 * d_ff : d_ff;
    for (int j = 0; j < k; j++)
        n_jobs += gate_up_jobs(f, e[j], a->x, h + (size_t)j * h_row, u + (size_t)j * d_ff, jobs + n_jobs);
    op_matmul_many(jobs, n_jobs, 1);
    expert_act(f, u, h, k); /* the k experts' activations in one call, each expert's row as a token's */
    for (int j = 0; j < k; j++)
        jobs[j] = down_job(f, e[j], u + (size_t)j * d_ff, y + (size_t)j * d);
    op_matmul_many(jobs, k, 1);
    memset(a->out, 0, (size_t)d * sizeof *a->out);
    for (int j = 0; j < k; j++)
        for (int c = 0; c < d; c++)
            a->out[c] += wt[j] * y[(size_t)j * d + c];
}

void op_moe(const struct moe_args *a)
{
    const struct moe_ffn *f = a->ffn;
    const int d = f->d_model, d_ff = f->d_ff, k = a->k;
    const size_t n = (size_t)a->n_tok;
    float *cur = a->scratch;
    const size_t m = n < MOE_ONE_TOKEN_MAX ? MOE_ONE_TOKEN_MAX : n;
    float *xg = cur;  cur += round16(n * d);          /* (n_e, d_model) the expert's tokens */
    float *y = cur;   cur += round16(m * d);          /* (n_e, d_model) its outputs */
    float *h = cur;   cur += round16(m * 2 * d_ff);   /* (n_e, d_ff) gate or (n_e, 2 d_ff) gate_up */
    float *u = cur;   cur += round16(m * d_ff);       /* (n_e, d_ff) up, then the activation */
    int32_t *tok = (int32_t *)cur; cur += round16(n); /* (n_e) token index */
    float *wt = cur;                                               /* (n_e) routing weight */
    if (n == 1 && k <= MOE_ONE_TOKEN_MAX) {
        moe_one_token(a, y, h, u);
        return;
    }

    memset(a->out, 0, n * d * sizeof *a->out);
    for (int e = 0; e < f->n_expert; e++) {
        int n_e = 0;
        for (size_t t = 0; t < n; t++)
            for (int j = 0; j < k; j++)
                if (a->ids[t * k + j] == e) {
                    tok[n_e] = (int32_t)t;
                    wt[n_e++] = a->weights[t * k + j];
                }
        if (!n_e)
            continue;
        for (int i = 0; i < n_e; i++)
            memcpy(xg + (size_t)i * d, a->x + (size_t)tok[i] * d, (size_t)d * sizeof *xg);
        struct matmul_job jobs[2];
        op_matmul_many(jobs, gate_up_jobs(f, e, xg, h, u, jobs), n_e);
        expert_act(f, u, h, n_e);
        const struct matmul_job down = down_job(f, e, u, y);
        op_matmul(down.y, down.x, down.w, down.bias, n_e);
        for (int i = 0; i < n_e; i++) {
            float *o = a->out + (size_t)tok[i] * d;
            const float *yi = y + (size_t)i * d;
            for (int c = 0; c < d; c++)
                o[c] += wt[i] * yi[c];
        }
    }
}
