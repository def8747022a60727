/* attn_part_avx512.c — the decode partial (struct attn_part; same contract as attention_part_ref) with AVX-512:
 * the register tiles of attn_part_tiles.h over 16-lane vectors (score tiles of 4 heads x 4 keys, 2 x 8, 1 x 16;
 * value tiles of 4 heads x 4 slices, 2 or 1 x 8), sum16 the transposing reduction. Dimensions that are not
 * multiples of 16 take the row form (attention_part_keys over dot512_kv and axpy512_kv). */
#include <immintrin.h>
#include <math.h>
#include <string.h>

#include "kernels/attention_rows.h"
#include "kernels/exp_avx512.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* exp(s[j] - m) 16 at a time (exp512), the sum in lanes. */
static float expsum_avx512(float *s, int n, float m)
{
    __m512 acc = _mm512_setzero_ps();
    const __m512 mv = _mm512_set1_ps(m);
    for (int j = 0; j < n; j += 16) {
        const __mmask16 k = mask16(n - j);
        const __m512 e = exp512(_mm512_sub_ps(_mm512_maskz_loadu_ps(k, s + j), mv));
        _mm512_mask_storeu_ps(s + j, k, e);
        acc = _mm512_add_ps(acc, _mm512_maskz_mov_ps(k, e));
    }
    return _mm512_reduce_add_ps(acc);
}

/* Lane i of the result: the sum of a[i]'s 16 lanes (pairs, then quads within 128-bit lanes, then across them). */
static inline __attribute__((always_inline)) __m512 sum16(const __m512 *a)
{
    __m512 b[8], c[4], d[2];
    for (int i = 0; i < 8; i++) /* 128-bit lane L: a[2i] at 0 and 2, a[2i+1] at 1 and 3 */
        b[i] = _mm512_add_ps(_mm512_unpacklo_ps(a[2 * i], a[2 * i + 1]), _mm512_unpackhi_ps(a[2 * i], a[2 * i + 1]));
    for (int i = 0; i < 4; i++) { /* lane L: a[4i..4i+3] at 0..3 */
        const __m512d x = _mm512_castps_pd(b[2 * i]), y = _mm512_castps_pd(b[2 * i + 1]);
        c[i] = _mm512_add_ps(_mm512_castpd_ps(_mm512_unpacklo_pd(x, y)), _mm512_castpd_ps(_mm512_unpackhi_pd(x, y)));
    }
    for (int i = 0; i < 2; i++) /* lanes 0, 1: c[2i]'s lanes 0+1, 2+3; lanes 2, 3: c[2i+1]'s */
        d[i] = _mm512_add_ps(_mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0x88),
                             _mm512_shuffle_f32x4(c[2 * i], c[2 * i + 1], 0xdd));
    return _mm512_add_ps(_mm512_shuffle_f32x4(d[0], d[1], 0x88), _mm512_shuffle_f32x4(d[0], d[1], 0xdd));
}

/* The largest of s[0..n). */
static inline float max512(const float *s, int n)
{
    __m512 m = _mm512_set1_ps(s[0]);
    for (int j = 0; j < n; j += 16)
        m = _mm512_mask_max_ps(m, mask16(n - j), m, _mm512_loadu_ps(s + j));
    return _mm512_reduce_max_ps(m);
}

#define PT_V __m512
#define PT_W 16
#define PT_ZERO() _mm512_setzero_ps()
#define PT_LOADU(p) _mm512_loadu_ps(p)
#define PT_STOREU(p, v) _mm512_storeu_ps(p, v)
#define PT_FMA(a, b, c) _mm512_fmadd_ps(a, b, c)
#define PT_MUL(a, b) _mm512_mul_ps(a, b)
#define PT_SET1(x) _mm512_set1_ps(x)
#define PT_LOAD_KV(base, f16, i) load_kv(base, f16, (size_t)(i), 0xffff)
#define PT_SUMW(acc) sum16(acc)
#define PT_MAX(s, n) max512(s, n)
#define PT_EXPSUM(s, n, m) expsum_avx512(s, n, m)
#include "kernels/attn_part_tiles.h"

void attention_part_avx512(const struct attn_part *a)
{
    if (a->d_k % 16 || a->d_v % 16)
        attention_part_keys(a, dot512_kv, axpy512_kv, expsum_avx512);
    else
        attention_part_tiled(a);
}
