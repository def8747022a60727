/* backend_cpu_moe.c — the mixture-of-experts ops of ops.h on the CPU: routing, the clamped SwiGLU of
 * GPT-OSS, and expert dispatch (gather each expert's tokens, run them as one batch through op_matmul, add
 * the weighted outputs back).
 *
 * Mirrors transformers 5.17's eager experts (Qwen3MoeExperts.forward, GptOssExperts.forward): experts are
 * visited in ascending id, and each token's output is ((0 + w_a*y_a) + w_b*y_b) + ... in that order.
 */
#include <math.h>
#include <string.h>

#include "backend/ops.h"

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

void op_moe_route(int32_t *ids, float *weights, const float *logits, int n_tok, const struct router_params *p)
{
    OWL_ASSERT(p->k >= 1 && p->k <= p->n_expert);
    const int E = p->n_expert, k = p->k;
    for (int t = 0; t < n_tok; t++) {
        const float *l = logits + (size_t)t * E;
        int32_t *id = ids + (size_t)t * k;
        float *w = weights + (size_t)t * k;
        switch (p->kind) {
        case ROUTER_SOFTMAX_TOPK: {
            /* softmax over all experts, then the top-k probabilities (selection by logits is the same
             * order, but ties and the weights come from the probabilities, as in HF) */
            float m = l[0], sum = 0.0f;
            for (int e = 1; e < E; e++)
                m = fmaxf(m, l[e]);
            for (int e = 0; e < E; e++)
                sum += expf(l[e] - m);
            top_k(id, l, E, k);
            float wsum = 0.0f;
            for (int j = 0; j < k; j++) {
                w[j] = expf(l[id[j]] - m) / sum;
                wsum += w[j];
            }
            if (p->norm_topk)
                for (int j = 0; j < k; j++)
                    w[j] /= wsum;
            break;
        }
        case ROUTER_TOPK_SOFTMAX: {
            top_k(id, l, E, k);
            const float m = l[id[0]];
            float sum = 0.0f;
            for (int j = 0; j < k; j++) {
                w[j] = expf(l[id[j]] - m);
                sum += w[j];
            }
            for (int j = 0; j < k; j++)
                w[j] /= sum;
            break;
        }
        default:
            OWL_ASSERT(!"op_moe_route: unknown router kind");
        }
    }
}

void op_swiglu_oai(float *out, const float *gate_up, int n, int d_ff, float alpha, float limit)
{
    for (int t = 0; t < n; t++) {
        const float *z = gate_up + (size_t)t * 2 * d_ff;
        float *o = out + (size_t)t * d_ff;
        for (int c = 0; c < d_ff; c++) {
            const float g = fminf(z[2 * c], limit);                 /* gate: even columns, clamped above */
            const float u = fminf(fmaxf(z[2 * c + 1], -limit), limit); /* up: odd columns, clamped both ways */
            const float glu = g * (1.0f / (1.0f + expf(-(g * alpha))));
            o[c] = (u + 1.0f) * glu;
        }
    }
}

/* Scratch pieces start on 64-byte boundaries. */
static size_t round16(size_t n) { return (n + 15) & ~(size_t)15; }

size_t moe_scratch_floats(const struct moe_ffn *f, int n_tok)
{
    const size_t n = (size_t)n_tok;
    return round16(n * f->d_model) * 2      /* gathered x, expert output y */
         + round16(n * 2 * f->d_ff)         /* gate (or fused gate_up) */
         + round16(n * f->d_ff)             /* up, then the activation */
         + round16(n) * 2;                  /* token index, routing weight */
}

void op_moe(const struct moe_args *a)
{
    const struct moe_ffn *f = a->ffn;
    const int d = f->d_model, d_ff = f->d_ff, k = a->k;
    const size_t n = (size_t)a->n_tok;
    float *cur = a->scratch;
    float *xg = cur;  cur += round16(n * d);          /* (n_e, d_model) the expert's tokens */
    float *y = cur;   cur += round16(n * d);          /* (n_e, d_model) its outputs */
    float *h = cur;   cur += round16(n * 2 * d_ff);   /* (n_e, d_ff) gate or (n_e, 2 d_ff) gate_up */
    float *u = cur;   cur += round16(n * d_ff);       /* (n_e, d_ff) up, then the activation */
    int32_t *tok = (int32_t *)cur; cur += round16(n); /* (n_e) token index */
    float *wt = cur;                                               /* (n_e) routing weight */

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
        if (f->gate_up) {
            op_matmul(h, xg, &f->gate_up[e], f->gate_up_bias ? f->gate_up_bias + (size_t)e * 2 * d_ff : NULL, n_e);
            OWL_ASSERT(f->act == EXPERT_ACT_SWIGLU_OAI);
            op_swiglu_oai(u, h, n_e, d_ff, f->alpha, f->limit);
        } else {
            op_matmul(h, xg, &f->gate[e], NULL, n_e);
            op_matmul(u, xg, &f->up[e], NULL, n_e);
            OWL_ASSERT(f->act == EXPERT_ACT_SILU);
            op_swiglu(u, h, u, (size_t)n_e * d_ff);
        }
        op_matmul(y, u, &f->down[e], f->down_bias ? f->down_bias + (size_t)e * d : NULL, n_e);
        for (int i = 0; i < n_e; i++) {
            float *o = a->out + (size_t)tok[i] * d;
            const float *yi = y + (size_t)i * d;
            for (int c = 0; c < d; c++)
                o[c] += wt[i] * yi[c];
        }
    }
}
