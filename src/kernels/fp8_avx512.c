/* fp8_avx512.c — AVX-512 variant of matmul_fp8_ref (same prototype, same products).
 *
 * 16 e4m3 bytes widen to 16 fp32 in registers: the 7 magnitude bits shifted left by 20 land in the fp32
 * exponent's low 4 bits and the mantissa's top 3, which is the e4m3 value times 2^-120 (subnormals
 * included, as fp32 subnormals); one exact multiply by 2^120 restores it, the sign bit moves to bit 31, and
 * 0x7f/0xff become NaN. The block scale multiplies that (the reference's one rounding), then an FMA
 * accumulates. A 16-wide slice never straddles a 128-column block. Only the summation order differs from
 * the reference.
 */
#include <immintrin.h>
#include <math.h>

#include "kernels/fp8.h"

static inline __m512 load_e4m3(const uint8_t *p, __mmask16 m, __m512 scale)
{
    const __m512i b = _mm512_cvtepu8_epi32(_mm_maskz_loadu_epi8(m, p));
    const __m512i mag = _mm512_and_si512(b, _mm512_set1_epi32(0x7f));
    const __m512i bits = _mm512_or_si512(_mm512_slli_epi32(mag, 20),
                                         _mm512_slli_epi32(_mm512_and_si512(b, _mm512_set1_epi32(0x80)), 24));
    __m512 v = _mm512_mul_ps(_mm512_castsi512_ps(bits), _mm512_set1_ps(0x1p120f));
    v = _mm512_mask_blend_ps(_mm512_cmpeq_epi32_mask(mag, _mm512_set1_epi32(0x7f)), v, _mm512_set1_ps(NAN));
    return _mm512_mul_ps(v, scale);
}

static inline __mmask16 tail_mask(int left) { return left >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << left) - 1); }

/* One row against NT tokens (a compile-time constant at every call), streamed front to back with two
 * accumulator chains per token (a 16-wide tail into the first), summed at the end. Every token's result
 * is the same operation sequence whatever NT is (row-exact: a token of a batch computes bitwise as alone). */
static inline __attribute__((always_inline)) void rows(float *y, const float *x, const uint8_t *wr, const float *s,
                                                       int d_in, int d_out, int NT)
{
    __m512 a[4][2];
    for (int j = 0; j < NT; j++)
        a[j][0] = a[j][1] = _mm512_setzero_ps();
    int k = 0;
    for (; k + 32 <= d_in; k += 32) {
        const __m512 w0 = load_e4m3(wr + k, 0xffff, _mm512_set1_ps(s[k / FP8_BLOCK]));
        const __m512 w1 = load_e4m3(wr + k + 16, 0xffff, _mm512_set1_ps(s[(k + 16) / FP8_BLOCK]));
        for (int j = 0; j < NT; j++) {
            a[j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + (size_t)j * d_in + k), a[j][0]);
            a[j][1] = _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + (size_t)j * d_in + k + 16), a[j][1]);
        }
    }
    for (; k < d_in; k += 16) {
        const __mmask16 m = tail_mask(d_in - k);
        const __m512 w0 = load_e4m3(wr + k, m, _mm512_set1_ps(s[k / FP8_BLOCK]));
        for (int j = 0; j < NT; j++)
            a[j][0] = _mm512_fmadd_ps(w0, _mm512_maskz_loadu_ps(m, x + (size_t)j * d_in + k), a[j][0]);
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = _mm512_reduce_add_ps(_mm512_add_ps(a[j][0], a[j][1]));
}

void matmul_fp8_avx512(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                       int o0, int o1)
{
    const uint8_t *wb = w;
    const int n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK;
    for (int o = o0; o < o1; o++) {
        const uint8_t *wr = wb + (size_t)o * d_in;
        const float *s = scales + (size_t)(o / FP8_BLOCK) * n_cb;
        int t = 0;
        for (; t + 4 <= n; t += 4)
            rows(y + (size_t)t * d_out + o, x + (size_t)t * d_in, wr, s, d_in, d_out, 4);
        float *yt = y + (size_t)t * d_out + o;
        const float *xt = x + (size_t)t * d_in;
        switch (n - t) {
        case 3: rows(yt, xt, wr, s, d_in, d_out, 3); break;
        case 2: rows(yt, xt, wr, s, d_in, d_out, 2); break;
        case 1: rows(yt, xt, wr, s, d_in, d_out, 1); break;
        default: break;
        }
    }
}
