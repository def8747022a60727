/* fp8_avx512.c — AVX-512 variant of matmul_fp8_ref (same prototype, same products).
 *
 * 32 e4m3 bytes widen in registers through IEEE half: each byte's 7 magnitude bits shifted to bits 7..13 and
 * its sign to bit 15 are the half whose value is the byte's times 2^-8 (e4m3's exponent bias 7 against the
 * half's 15; e4m3's subnormals are the half's), the NaN codes become a half NaN, and vcvtph2ps widens that
 * exactly (no fp32 subnormal ever reaches an arithmetic instruction: a multiply with one stalled ~3x on Zen 4).
 * The weight is then that times 256 * scale, the reference's one rounding of e4m3 * scale (both factors exact
 * powers of two apart), and an FMA accumulates it; only the summation order differs from the reference.
 * - Decode (fewer than GEMM_MIN_TOKENS tokens, row-exact): each row streamed once for up to 4 tokens, two
 *   chains per token and row (a 32-input step's halves, tails into the first). Where the tokens' activations
 *   pass 16 KB (DeepSeek-V3's 7168 inputs: 28 KB), the row stream would push them out of L1 on every row and
 *   reload them from L2 (the stream then ran at half the memory's speed): rows go 8 / NT at a time instead,
 *   each row with the same operations, so the numbers are the same.
 * - Prefill: the GEMM micro-kernel of gemm_avx512.h over panels of widened rows (d_in a multiple of 32). */
#include <immintrin.h>

#include "kernels/fp8.h"
#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

static inline __mmask32 mask32_of(int left) { return left >= 32 ? 0xffffffffu : (__mmask32)((1ull << left) - 1); }

/* The bytes at p (the first `left`, zeros after) as fp32 times s256 (256 * the block's scale): inputs 0..15 in
 * lo, 16..31 in hi. */
static inline __attribute__((always_inline)) void e4m3x32(const uint8_t *p, int left, __m512 s256, __m512 *lo,
                                                          __m512 *hi)
{
    const __m512i b = _mm512_cvtepu8_epi16(_mm256_maskz_loadu_epi8(mask32_of(left), p));
    const __m512i u = _mm512_slli_epi16(b, 7); /* magnitude at bits 7..13, sign at 14 */
    const __m512i mag = _mm512_set1_epi16(0x3f80);
    __m512i h = _mm512_add_epi16(u, _mm512_and_si512(u, _mm512_set1_epi16(0x4000))); /* sign to bit 15 */
    h = _mm512_mask_mov_epi16(h, _mm512_cmpeq_epi16_mask(_mm512_and_si512(u, mag), mag), _mm512_set1_epi16(0x7e00));
    *lo = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(h)), s256);
    *hi = _mm512_mul_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1)), s256);
}

/* R rows from wr (row stride d_in, scale rows s[r]) against NT tokens, each row once: per row and token two
 * chains (inputs k..k+15 and k+16..k+31 of each 32-input step; a tail of up to 31 all into the first), summed
 * at the end. A row's and token's operations are the same whatever R and NT are (row-exact). */
static inline __attribute__((always_inline)) void rows(float *y, const float *x, const uint8_t *wr,
                                                       const float *const *s, int d_in, int d_out, int R, int NT)
{
    __m512 a[8][2];
#pragma GCC unroll 8
    for (int i = 0; i < R * NT; i++)
        a[i][0] = a[i][1] = _mm512_setzero_ps();
    for (int k0 = 0; k0 < d_in; k0 += FP8_BLOCK) {
        const int k1 = d_in - k0 < FP8_BLOCK ? d_in : k0 + FP8_BLOCK, full = k0 + (k1 - k0) / 32 * 32;
        __m512 s256[8];
#pragma GCC unroll 8
        for (int r = 0; r < R; r++)
            s256[r] = _mm512_set1_ps(s[r][k0 / FP8_BLOCK] * 256.0f);
        for (int k = k0; k < full; k += 32)
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                __m512 lo, hi;
                e4m3x32(wr + (size_t)r * d_in + k, 32, s256[r], &lo, &hi);
#pragma GCC unroll 4
                for (int j = 0; j < NT; j++) {
                    a[r * NT + j][0] = _mm512_fmadd_ps(lo, _mm512_loadu_ps(x + (size_t)j * d_in + k), a[r * NT + j][0]);
                    a[r * NT + j][1] = _mm512_fmadd_ps(hi, _mm512_loadu_ps(x + (size_t)j * d_in + k + 16),
                                                       a[r * NT + j][1]);
                }
            }
        if (full < k1) { /* the row's last, partial step */
            const int left = k1 - full;
            for (int r = 0; r < R; r++) {
                __m512 lo, hi;
                e4m3x32(wr + (size_t)r * d_in + full, left, s256[r], &lo, &hi);
                for (int j = 0; j < NT; j++) {
                    const float *xt = x + (size_t)j * d_in + full;
                    a[r * NT + j][0] = _mm512_fmadd_ps(lo, _mm512_maskz_loadu_ps(mask16(left), xt), a[r * NT + j][0]);
                    if (left > 16)
                        a[r * NT + j][0] =
                            _mm512_fmadd_ps(hi, _mm512_maskz_loadu_ps(mask16(left - 16), xt + 16), a[r * NT + j][0]);
                }
            }
        }
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; r++)
#pragma GCC unroll 4
        for (int j = 0; j < NT; j++)
            y[(size_t)j * d_out + r] = _mm512_reduce_add_ps(_mm512_add_ps(a[r * NT + j][0], a[r * NT + j][1]));
}

/* Rows o0..o1 for NT tokens, R at a time (R * NT <= 8; leftover rows one at a time). */
static inline __attribute__((always_inline)) void row_group(float *y, const float *x, const uint8_t *wb,
                                                            const float *scales, int d_in, int d_out, int o0, int o1,
                                                            int R, int NT)
{
    const int n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK;
    int o = o0;
    for (; o < o1; o += R) {
        const int nr = o1 - o < R ? 1 : R;
        const float *s[8];
        for (int r = 0; r < nr; r++)
            s[r] = scales + (size_t)((o + r) / FP8_BLOCK) * n_cb;
        if (nr == R)
            rows(y + o, x, wb + (size_t)o * d_in, s, d_in, d_out, R, NT);
        else {
            rows(y + o, x, wb + (size_t)o * d_in, s, d_in, d_out, 1, NT);
            o += 1 - R;
        }
    }
}

void dequantize_row_fp8_avx512(float *out, const uint8_t *w_row, const float *scales_row, int n)
{
    for (int k = 0; k < n; k += 32) {
        __m512 lo, hi;
        e4m3x32(w_row + k, n - k, _mm512_set1_ps(scales_row[k / FP8_BLOCK] * 256.0f), &lo, &hi);
        _mm512_mask_storeu_ps(out + k, mask16(n - k), lo);
        _mm512_mask_storeu_ps(out + k + 16, mask16(n - k - 16), hi);
    }
}

struct fp8_matrix {
    const uint8_t *w;
    const float *scales;
    int d_in, n_cb;
};

/* gemm_block32_fn: block kb of row `row`, widened and scaled. */
static inline __attribute__((always_inline)) void fp8_block(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi)
{
    const struct fp8_matrix *m = ctx;
    const float s = m->scales[(size_t)(row / FP8_BLOCK) * m->n_cb + (size_t)kb * 32 / FP8_BLOCK];
    e4m3x32(m->w + (size_t)row * m->d_in + (size_t)kb * 32, 32, _mm512_set1_ps(s * 256.0f), lo, hi);
}

void matmul_fp8_avx512(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                       int o0, int o1)
{
    const uint8_t *wb = w;
    if (n >= GEMM_MIN_TOKENS && d_in % 32 == 0) {
        const struct fp8_matrix m = {wb, scales, d_in, (d_in + FP8_BLOCK - 1) / FP8_BLOCK};
        gemm_blocks32(y, x, n, d_in, d_out, o0, o1, fp8_block, &m);
        return;
    }
    for (int t = 0; t < n; t += 4) {
        const int nt = n - t < 4 ? n - t : 4;
        const bool wide = (size_t)nt * d_in * sizeof(float) > KERN_ROWS_X_BYTES;
        float *yt = y + (size_t)t * d_out;
        const float *xt = x + (size_t)t * d_in;
#define GROUP(R, NT) row_group(yt, xt, wb, scales, d_in, d_out, o0, o1, R, NT)
        GROUP_BY_WIDTH(nt, wide, GROUP)
#undef GROUP
    }
}
