/* elementwise_avx512.c — AVX-512 SwiGLU (and GPT-OSS's clamped one), RMSNorm and RoPE (same contracts as
 * elementwise.c); exp from exp_avx512.h. */
#include <immintrin.h>

#include "kernels/exp_avx512.h"
#include "kernels/kernels.h"

void swiglu_f32_avx512(float *out, const float *gate, const float *up, size_t n)
{
    const __m512 one = _mm512_set1_ps(1.0f);
    for (size_t i = 0; i < n; i += 16) {
        const __mmask16 m = n - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (n - i)) - 1);
        const __m512 g = _mm512_maskz_loadu_ps(m, gate + i), u = _mm512_maskz_loadu_ps(m, up + i);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), g));
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_div_ps(g, _mm512_add_ps(one, e)), u));
    }
}

/* The masks of 2 * left interleaved values (left pairs, at most 16 taken) as two vectors of 16, and those values
 * split into their even (a) and odd (b) members. */
struct pairs16 {
    __mmask16 m0, m1;
    __m512 a, b;
};
static inline struct pairs16 load_pairs16(const float *p, int left)
{
    const __m512i even = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odd = _mm512_add_epi32(even, _mm512_set1_epi32(1));
    struct pairs16 r;
    r.m0 = left >= 8 ? (__mmask16)0xffff : (__mmask16)((1u << (2 * left)) - 1);
    r.m1 = left >= 16 ? (__mmask16)0xffff : left <= 8 ? 0 : (__mmask16)((1u << (2 * left - 16)) - 1);
    const __m512 p0 = _mm512_maskz_loadu_ps(r.m0, p), p1 = _mm512_maskz_loadu_ps(r.m1, p + 16);
    r.a = _mm512_permutex2var_ps(p0, even, p1), r.b = _mm512_permutex2var_ps(p0, odd, p1);
    return r;
}

/* 16 outputs at a time: gate and up as they lie (step 1) or, interleaved (step 2, up = gate + 1: the fused gate_up
 * layout), 32 values split into even and odd lanes; other layouts take the reference. min/max return their second
 * operand for a NaN first one, as fminf/fmaxf return the number. */
void swiglu_oai_f32_avx512(float *out, const float *gate, const float *up, int step, int n, float alpha, float limit)
{
    const bool pairs = step == 2 && up == gate + 1;
    if (step != 1 && !pairs) {
        swiglu_oai_f32_ref(out, gate, up, step, n, alpha, limit);
        return;
    }
    const __m512 vlim = _mm512_set1_ps(limit), nlim = _mm512_set1_ps(-limit), valpha = _mm512_set1_ps(alpha);
    const __m512 one = _mm512_set1_ps(1.0f);
    for (int c = 0; c < n; c += 16) {
        const int left = n - c;
        const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
        __m512 g, u;
        if (pairs) {
            const struct pairs16 gu = load_pairs16(gate + 2 * (size_t)c, left);
            g = gu.a, u = gu.b;
        } else {
            g = _mm512_maskz_loadu_ps(m, gate + c), u = _mm512_maskz_loadu_ps(m, up + c);
        }
        g = _mm512_min_ps(g, vlim);
        u = _mm512_min_ps(_mm512_max_ps(u, nlim), vlim);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_setzero_ps(), _mm512_mul_ps(g, valpha)));
        const __m512 glu = _mm512_mul_ps(g, _mm512_div_ps(one, _mm512_add_ps(one, e)));
        _mm512_mask_storeu_ps(out + c, m, _mm512_mul_ps(_mm512_add_ps(u, one), glu));
    }
}

void rmsnorm_f32_avx512(float *out, const float *x, const float *w, int d, float eps)
{
    __m512 acc = _mm512_setzero_ps();
    for (int i = 0; i < d; i += 16) {
        const __mmask16 m = d - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d - i)) - 1);
        const __m512 v = _mm512_maskz_loadu_ps(m, x + i);
        acc = _mm512_fmadd_ps(v, v, acc);
    }
    const float inv = 1.0f / __builtin_sqrtf(_mm512_reduce_add_ps(acc) / (float)d + eps);
    const __m512 vinv = _mm512_set1_ps(inv);
    for (int i = 0; i < d; i += 16) {
        const __mmask16 m = d - i >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d - i)) - 1);
        const __m512 v = _mm512_mul_ps(_mm512_maskz_loadu_ps(m, x + i), vinv);
        _mm512_mask_storeu_ps(out + i, m, _mm512_mul_ps(_mm512_maskz_loadu_ps(m, w + i), v));
    }
}

/* 16 pairs at a time: the halves as they lie, or (interleaved) 32 values split into even and odd lanes and merged
 * back; a * c - b * s and b * c + a * s may round once (FMA) where the reference rounds twice. */
void rope_f32_avx512(float *x, int n_head, int head_stride, int d_rot, const float *cos, const float *sin,
                     bool interleaved)
{
    const int half = d_rot / 2;
    const __m512i lo = _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
    const __m512i hi = _mm512_add_epi32(lo, _mm512_set1_epi32(8));
    for (int h = 0; h < n_head; h++) {
        float *v = x + (size_t)h * head_stride;
        for (int i = 0; i < half; i += 16) {
            const int left = half - i;
            const __mmask16 m = left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1);
            const __m512 c = _mm512_maskz_loadu_ps(m, cos + i), s = _mm512_maskz_loadu_ps(m, sin + i);
            if (!interleaved) {
                const __m512 a = _mm512_maskz_loadu_ps(m, v + i), b = _mm512_maskz_loadu_ps(m, v + half + i);
                _mm512_mask_storeu_ps(v + i, m, _mm512_fmsub_ps(a, c, _mm512_mul_ps(b, s)));
                _mm512_mask_storeu_ps(v + half + i, m, _mm512_fmadd_ps(b, c, _mm512_mul_ps(a, s)));
                continue;
            }
            const struct pairs16 p = load_pairs16(v + 2 * i, left);
            const __m512 ra = _mm512_fmsub_ps(p.a, c, _mm512_mul_ps(p.b, s)), rb = _mm512_fmadd_ps(p.b, c, _mm512_mul_ps(p.a, s));
            _mm512_mask_storeu_ps(v + 2 * i, p.m0, _mm512_permutex2var_ps(ra, lo, rb));
            _mm512_mask_storeu_ps(v + 2 * i + 16, p.m1, _mm512_permutex2var_ps(ra, hi, rb));
        }
    }
}
