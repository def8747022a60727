/* widen_avx2.c — AVX2 + FMA + F16C matmuls over every weight format, for CPUs without AVX-512 (same
 * prototypes and sums as the references; only the summation order differs).
 *
 * One mechanism serves all formats: a row's inputs are widened to fp32, exactly (the reference's values), one
 * slice of up to WIDE_KC inputs at a time (`widen`, SIMD for every format: the GGML blocks with their reference
 * dequantizer's operations in its order, so the same weights bit for bit), then
 * - decode (fewer than AVX2_GEMM_MIN tokens): each slice is dotted with up to 4 tokens (four 8-lane chains per
 *   token, a scalar tail): every token's operations are the same whatever n is (row-exact);
 * - prefill: the slices of 16 rows are stored transposed (k-major, 16 floats per k) in an L1 panel and every
 *   tile of 6 tokens accumulates 16 outputs in two ymm per token: 2 panel loads and 6 broadcasts feed 12 FMAs
 *   per k (12 of the 16 ymm registers hold sums).
 * The BF16/F16/F32/Q8_0 decode keeps the fused row kernels of kernels_avx2.c; this file gives them their GEMM. */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx2.h"
#include "kernels/kernels.h"

#define WIDE_KC 256 /* a multiple of every block (32, 256) and of FP8's 128 */

/* The 16 int8 values 2 * e2m1[code] (integers in [-12, 12]) for a vpshufb lookup. */
static inline __m128i mxfp4_lut(void) { return _mm_setr_epi8(0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12); }

/* 16 int8 in input order to fp32 times d, into out[0..16). */
static inline void store_i8x16(float *out, __m128i v, float d)
{
    const __m256 dv = _mm256_set1_ps(d);
    _mm256_storeu_ps(out, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(v))));
    _mm256_storeu_ps(out + 8, _mm256_mul_ps(dv, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_srli_si128(v, 8)))));
}

/* 32 int8 in input order to fp32 times d, into out[0..32). */
static inline void store_i8x32(float *out, __m128i lo16, __m128i hi16, float d)
{
    store_i8x16(out, lo16, d);
    store_i8x16(out + 16, hi16, d);
}

/* 32 unsigned bytes in input order to fp32 a * u + c (rounded after the product, then the sum), into out[0..32). */
static inline void store_u8x32_affine(float *out, __m256i u, float a, float c)
{
    const __m256 av = _mm256_set1_ps(a), cv = _mm256_set1_ps(c);
    for (int i = 0; i < 4; i++) {
        const __m128i part = i < 2 ? _mm256_castsi256_si128(u) : _mm256_extracti128_si256(u, 1);
        const __m256 v = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(i & 1 ? _mm_srli_si128(part, 8) : part));
        _mm256_storeu_ps(out + 8 * i, _mm256_add_ps(_mm256_mul_ps(av, v), cv));
    }
}

/* One MXFP4 block's 16 code bytes: doubled values of the low nibbles (lo) and the high ones (hi). */
static inline void mxfp4_codes(const uint8_t *codes, __m128i *lo, __m128i *hi)
{
    const __m128i b = _mm_loadu_si128((const __m128i *)codes), m = _mm_set1_epi8(0x0f);
    *lo = _mm_shuffle_epi8(mxfp4_lut(), _mm_and_si128(b, m));
    *hi = _mm_shuffle_epi8(mxfp4_lut(), _mm_and_si128(_mm_srli_epi16(b, 4), m));
}

/* 16 FP8 E4M3 bytes to fp32 times scale, in lo (inputs 0..7) and hi (8..15): through IEEE half as fp8_avx512.c
 * does (the 7 magnitude bits << 7 and the sign at bit 15 are the half of the byte's value times 2^-8, e4m3's
 * subnormals the half's; NaN codes a half NaN), widened exactly by F16C, then times 256 * scale: the reference's
 * one rounding. Building the fp32 bits lane by lane instead ran at 7.4 GB/s at 2048 inputs on two threads, this
 * through the widening buffer at 12, in the decode rows' registers at 18-19. */
static inline __attribute__((always_inline)) void fp8x16(const uint8_t *p, float scale, __m256 *lo, __m256 *hi)
{
    const __m256i b = _mm256_cvtepu8_epi16(_mm_loadu_si128((const __m128i *)p));
    const __m256i u = _mm256_slli_epi16(b, 7), mag = _mm256_set1_epi16(0x3f80);
    __m256i h = _mm256_add_epi16(u, _mm256_and_si256(u, _mm256_set1_epi16(0x4000))); /* sign to bit 15 */
    h = _mm256_blendv_epi8(h, _mm256_set1_epi16(0x7e00), _mm256_cmpeq_epi16(_mm256_and_si256(u, mag), mag));
    const __m256 s = _mm256_set1_ps(scale * 256.0f);
    *lo = _mm256_mul_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(h)), s);
    *hi = _mm256_mul_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(h, 1)), s);
}

/* out[0..kc) = row o's inputs k0 .. k0+kc-1 as fp32 (k0 a multiple of WIDE_KC; kc the rest of the row at most). */
static void widen(enum avx2_format f, float *out, const void *w, const void *scales, int d_in, int o, int k0, int kc)
{
    const uint8_t *wb = w;
    switch (f) {
    case AVX2_F32: memcpy(out, (const float *)w + (size_t)o * d_in + k0, (size_t)kc * sizeof(float)); return;
    case AVX2_BF16:
    case AVX2_F16: {
        const uint16_t *r = (const uint16_t *)w + (size_t)o * d_in + k0;
        int k = 0;
        for (; k + 8 <= kc; k += 8) {
            _mm256_storeu_ps(out + k, f == AVX2_F16 ? load8_f16(r + k) : load8_bf16(r + k));
        }
        for (; k < kc; k++)
            out[k] = f == AVX2_F16 ? f16_to_f32(r[k]) : bf16_to_f32(r[k]);
        return;
    }
    case AVX2_Q8_0:
        for (int k = 0; k < kc; k += 32) {
            const uint8_t *b = wb + ((size_t)o * (d_in / 32) + (size_t)(k0 + k) / 32) * Q8_0_BLOCK_BYTES;
            store_i8x32(out + k, _mm_loadu_si128((const __m128i *)(b + 2)), _mm_loadu_si128((const __m128i *)(b + 18)),
                        f16_ld(b));
        }
        return;
    case AVX2_MXFP4: /* HF: byte j holds inputs 2j (low nibble) and 2j + 1 */
    case AVX2_MXFP4G: /* GGML: {e8m0; 16 bytes}, byte j holds inputs j (low nibble) and 16 + j */
        for (int k = 0; k < kc; k += 32) {
            const size_t blk = (size_t)o * (d_in / 32) + (size_t)(k0 + k) / 32;
            const uint8_t *codes = f == AVX2_MXFP4 ? wb + blk * 16 : wb + blk * 17 + 1;
            const uint8_t s = f == AVX2_MXFP4 ? ((const uint8_t *)scales)[blk] : wb[blk * 17];
            __m128i lo, hi;
            mxfp4_codes(codes, &lo, &hi);
            if (f == AVX2_MXFP4)
                store_i8x32(out + k, _mm_unpacklo_epi8(lo, hi), _mm_unpackhi_epi8(lo, hi), mxfp4_half_scale(s));
            else
                store_i8x32(out + k, lo, hi, mxfp4_half_scale(s));
        }
        return;
    case AVX2_FP8: {
        const int n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK;
        const float *sr = (const float *)scales + (size_t)(o / FP8_BLOCK) * n_cb;
        const uint8_t *r = wb + (size_t)o * d_in + k0;
        int k = 0;
        for (; k + 16 <= kc; k += 16) { /* (k0 is a multiple of 16: a step never straddles a scale block) */
            __m256 lo, hi;
            fp8x16(r + k, sr[(k0 + k) / FP8_BLOCK], &lo, &hi);
            _mm256_storeu_ps(out + k, lo);
            _mm256_storeu_ps(out + k + 8, hi);
        }
        for (; k < kc; k++)
            out[k] = fp8_e4m3_to_f32(r[k]) * sr[(k0 + k) / FP8_BLOCK];
        return;
    }
    case AVX2_Q4_0:
    case AVX2_Q4_1:
    case AVX2_Q5_0:
    case AVX2_Q5_1: { /* the 32-weight blocks: (q - 8) d, q d + m, (q - 16) d, q d + m, q with Q5's fifth bits */
        const enum b32_format bf = f == AVX2_Q4_0 ? B32_Q4_0 : f == AVX2_Q4_1 ? B32_Q4_1 : f == AVX2_Q5_0 ? B32_Q5_0
                                                                                                         : B32_Q5_1;
        const int at = b32_codes_at(bf);
        for (int k = 0; k < kc; k += 32) {
            const uint8_t *b = wb + ((size_t)o * (d_in / 32) + (size_t)(k0 + k) / 32) * b32_bytes(bf);
            __m256i u = nibbles32(b + at);
            if (bf == B32_Q5_0 || bf == B32_Q5_1) {
                uint32_t qh;
                memcpy(&qh, b + at - 4, 4);
                u = _mm256_or_si256(u, fifth_bits_u8(qh));
            }
            if (bf == B32_Q4_0 || bf == B32_Q5_0) {
                const __m256i c = _mm256_sub_epi8(u, _mm256_set1_epi8(bf == B32_Q4_0 ? 8 : 16));
                store_i8x32(out + k, _mm256_castsi256_si128(c), _mm256_extracti128_si256(c, 1), f16_ld(b));
            } else
                store_u8x32_affine(out + k, u, f16_ld(b), f16_ld(b + 2));
        }
        return;
    }
    case AVX2_Q4_K:
    case AVX2_Q5_K: /* per sub-block: d * sc * q - dmin * m, d * sc and dmin * m formed first */
        for (int k = 0; k < kc; k += 256) {
            const uint8_t *b = wb + ((size_t)o * (d_in / 256) + (size_t)(k0 + k) / 256) * (f == AVX2_Q4_K ? 144 : 176);
            const float d = f16_ld(b), dmin = f16_ld(b + 2);
            for (int j = 0; j < 4; j++) {
                __m256i lo, hi;
                q45_K_slice(b, j, f == AVX2_Q5_K, &lo, &hi);
                int sc, m;
                scale_min_k4(2 * j, b + 4, &sc, &m);
                store_u8x32_affine(out + k + 64 * j, lo, d * (float)sc, -(dmin * (float)m));
                scale_min_k4(2 * j + 1, b + 4, &sc, &m);
                store_u8x32_affine(out + k + 64 * j + 32, hi, d * (float)sc, -(dmin * (float)m));
            }
        }
        return;
    case AVX2_Q6_K: /* per 16 inputs: d * sc * (q - 32), d * sc formed first */
        for (int k = 0; k < kc; k += 256) {
            const uint8_t *b = wb + ((size_t)o * (d_in / 256) + (size_t)(k0 + k) / 256) * 210;
            const float d = f16_ld(b + 208);
            const int8_t *sc = (const int8_t *)(b + 192);
            for (int s = 0; s < 8; s++) { /* sub-block s: inputs 32 s .. 32 s + 31, scales 2 s and 2 s + 1 */
                const __m256i c = _mm256_sub_epi8(q6_K_codes(b, s), _mm256_set1_epi8(32));
                store_i8x16(out + k + 32 * s, _mm256_castsi256_si128(c), d * (float)sc[2 * s]);
                store_i8x16(out + k + 32 * s + 16, _mm256_extracti128_si256(c, 1), d * (float)sc[2 * s + 1]);
            }
        }
        return;
    }
}

/* Decode: row by row, each widened slice dotted with every token of the group (at most 4). */
static void rows(enum avx2_format f, float *y, const float *x, const void *w, const void *scales, int n, int d_in,
                 int d_out, int o0, int o1)
{
    float buf[WIDE_KC] __attribute__((aligned(32)));
    for (int t0 = 0; t0 < n; t0 += 4) {
        const int nt = n - t0 < 4 ? n - t0 : 4;
        for (int o = o0; o < o1; o++) {
            __m256 a[4][4];
            float tail[4] = {0};
            for (int j = 0; j < nt; j++)
                for (int c = 0; c < 4; c++)
                    a[j][c] = _mm256_setzero_ps();
            for (int k0 = 0; k0 < d_in; k0 += WIDE_KC) {
                const int kc = d_in - k0 < WIDE_KC ? d_in - k0 : WIDE_KC;
                widen(f, buf, w, scales, d_in, o, k0, kc);
                for (int j = 0; j < nt; j++) {
                    const float *xj = x + (size_t)(t0 + j) * d_in + k0;
                    int k = 0;
                    for (; k + 32 <= kc; k += 32)
                        for (int c = 0; c < 4; c++)
                            a[j][c] = _mm256_fmadd_ps(_mm256_load_ps(buf + k + 8 * c), _mm256_loadu_ps(xj + k + 8 * c),
                                                      a[j][c]);
                    for (; k < kc; k++)
                        tail[j] += buf[k] * xj[k];
                }
            }
            for (int j = 0; j < nt; j++)
                y[(size_t)(t0 + j) * d_out + o] =
                    hsum8(_mm256_add_ps(_mm256_add_ps(a[j][0], a[j][1]), _mm256_add_ps(a[j][2], a[j][3]))) + tail[j];
        }
    }
}

/* y[t, o0 + i] (+)= sum_k panel[k][i] x[t, k0 + k] for NT tokens, rows i < 16 under the lane masks m0, m1. */
static inline __attribute__((always_inline)) void tile(float *y, const float *x, const float *panel, int kc, int d_in,
                                                       int d_out, bool accumulate, __m256i m0, __m256i m1, int NT)
{
    __m256 c[6][2];
    for (int j = 0; j < NT; j++) {
        c[j][0] = accumulate ? _mm256_maskload_ps(y + (size_t)j * d_out, m0) : _mm256_setzero_ps();
        c[j][1] = accumulate ? _mm256_maskload_ps(y + (size_t)j * d_out + 8, m1) : _mm256_setzero_ps();
    }
    for (int k = 0; k < kc; k++) {
        const __m256 w0 = _mm256_load_ps(panel + (size_t)k * 16), w1 = _mm256_load_ps(panel + (size_t)k * 16 + 8);
        for (int j = 0; j < NT; j++) {
            const __m256 xv = _mm256_broadcast_ss(x + (size_t)j * d_in + k);
            c[j][0] = _mm256_fmadd_ps(w0, xv, c[j][0]);
            c[j][1] = _mm256_fmadd_ps(w1, xv, c[j][1]);
        }
    }
    for (int j = 0; j < NT; j++) {
        _mm256_maskstore_ps(y + (size_t)j * d_out, m0, c[j][0]);
        _mm256_maskstore_ps(y + (size_t)j * d_out + 8, m1, c[j][1]);
    }
}

/* Prefill: per 16 rows and slice, the panel, then every tile of tokens. */
static void gemm(enum avx2_format f, float *y, const float *x, const void *w, const void *scales, int n, int d_in,
                 int d_out, int o0, int o1)
{
    float panel[WIDE_KC * 16] __attribute__((aligned(32)));
    float buf[WIDE_KC] __attribute__((aligned(32)));
    for (int g = o0; g < o1; g += 16) {
        const int nr = o1 - g < 16 ? o1 - g : 16;
        const __m256i m0 = mask8(nr), m1 = mask8(nr - 8);
        for (int k0 = 0; k0 < d_in; k0 += WIDE_KC) {
            const int kc = d_in - k0 < WIDE_KC ? d_in - k0 : WIDE_KC;
            for (int i = 0; i < 16; i++) {
                if (i < nr)
                    widen(f, buf, w, scales, d_in, g + i, k0, kc);
                for (int k = 0; k < kc; k++)
                    panel[(size_t)k * 16 + i] = i < nr ? buf[k] : 0.0f;
            }
            const float *xs = x + k0;
            float *yg = y + g;
            int t = 0;
            for (; t + 6 <= n; t += 6)
                tile(yg + (size_t)t * d_out, xs + (size_t)t * d_in, panel, kc, d_in, d_out, k0 > 0, m0, m1, 6);
            float *yt = yg + (size_t)t * d_out;
            const float *xt = xs + (size_t)t * d_in;
            switch (n - t) {
            case 5: tile(yt, xt, panel, kc, d_in, d_out, k0 > 0, m0, m1, 5); break;
            case 4: tile(yt, xt, panel, kc, d_in, d_out, k0 > 0, m0, m1, 4); break;
            case 3: tile(yt, xt, panel, kc, d_in, d_out, k0 > 0, m0, m1, 3); break;
            case 2: tile(yt, xt, panel, kc, d_in, d_out, k0 > 0, m0, m1, 2); break;
            case 1: tile(yt, xt, panel, kc, d_in, d_out, k0 > 0, m0, m1, 1); break;
            default: break;
            }
        }
    }
}

void matmul_widen_avx2(enum avx2_format f, float *y, const float *x, const void *w, const void *scales, int n,
                       int d_in, int d_out, int o0, int o1)
{
    if (n >= AVX2_GEMM_MIN)
        gemm(f, y, x, w, scales, n, d_in, d_out, o0, o1);
    else
        rows(f, y, x, w, scales, n, d_in, d_out, o0, o1);
}

void matmul_mxfp4_avx2(float *y, const float *x, const void *w, const void *scales, int n, int d_in, int d_out,
                       int o0, int o1)
{
    matmul_widen_avx2(AVX2_MXFP4, y, x, w, scales, n, d_in, d_out, o0, o1);
}
/* FP8 decode: rows()'s operations with each 32 inputs widened in registers (fp8x16) instead of through the buffer,
 * so the same numbers (12 -> 18-19 GB/s at 2048 inputs on two threads); R rows per pass (R * NT <= 4; 2 for one token
 * past KERN_ROWS_X_BYTES of activations: 13.3 -> 14.2 GB/s at 7168). */
static inline __attribute__((always_inline)) void fp8_rows(float *y, const float *x, const uint8_t *r,
                                                           const float *const *sr, int d_in, int d_out, int R, int NT)
{
    __m256 a[4][4];
    float tail[4] = {0};
    for (int i = 0; i < R * NT; i++)
        for (int c = 0; c < 4; c++)
            a[i][c] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 32 <= d_in; k += 32)
        for (int q = 0; q < R; q++) {
            __m256 wv[4];
            fp8x16(r + (size_t)q * d_in + k, sr[q][k / FP8_BLOCK], &wv[0], &wv[1]);
            fp8x16(r + (size_t)q * d_in + k + 16, sr[q][k / FP8_BLOCK], &wv[2], &wv[3]);
            for (int j = 0; j < NT; j++)
                for (int c = 0; c < 4; c++)
                    a[q * NT + j][c] = _mm256_fmadd_ps(wv[c], _mm256_loadu_ps(x + (size_t)j * d_in + k + 8 * c), a[q * NT + j][c]);
        }
    for (; k < d_in; k++)
        for (int q = 0; q < R; q++) {
            const float wk = fp8_e4m3_to_f32(r[(size_t)q * d_in + k]) * sr[q][k / FP8_BLOCK];
            for (int j = 0; j < NT; j++)
                tail[q * NT + j] += wk * x[(size_t)j * d_in + k];
        }
    for (int q = 0; q < R; q++)
        for (int j = 0; j < NT; j++) {
            const __m256 *c = a[q * NT + j];
            y[(size_t)j * d_out + q] = hsum8(_mm256_add_ps(_mm256_add_ps(c[0], c[1]), _mm256_add_ps(c[2], c[3]))) + tail[q * NT + j];
        }
}

static void rows_fp8(float *y, const float *x, const uint8_t *w, const float *scales, int n, int d_in, int d_out,
                     int o0, int o1)
{
    const int n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK;
    for (int t0 = 0; t0 < n; t0 += 4) {
        const int nt = n - t0 < 4 ? n - t0 : 4;
        const int R = nt == 1 && (size_t)d_in * sizeof(float) > KERN_ROWS_X_BYTES ? 2 : 1;
        float *yt = y + (size_t)t0 * d_out;
        const float *xt = x + (size_t)t0 * d_in;
        for (int o = o0; o < o1;) {
            const int rr = o + R <= o1 ? R : 1;
            const float *sr[2] = {scales + (size_t)(o / FP8_BLOCK) * n_cb,
                                  scales + (size_t)((o + rr - 1) / FP8_BLOCK) * n_cb};
            const uint8_t *r = w + (size_t)o * d_in;
            if (rr == 2)
                fp8_rows(yt + o, xt, r, sr, d_in, d_out, 2, 1);
            else if (nt == 4)
                fp8_rows(yt + o, xt, r, sr, d_in, d_out, 1, 4);
            else if (nt == 3)
                fp8_rows(yt + o, xt, r, sr, d_in, d_out, 1, 3);
            else if (nt == 2)
                fp8_rows(yt + o, xt, r, sr, d_in, d_out, 1, 2);
            else
                fp8_rows(yt + o, xt, r, sr, d_in, d_out, 1, 1);
            o += rr;
        }
    }
}

void matmul_fp8_avx2(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                     int o0, int o1)
{
    if (n >= AVX2_GEMM_MIN)
        matmul_widen_avx2(AVX2_FP8, y, x, w, scales, n, d_in, d_out, o0, o1);
    else
        rows_fp8(y, x, w, scales, n, d_in, d_out, o0, o1);
}
#define DEFINE_WIDEN_MATMUL(T, F)                                                                       \
    void matmul_##T##_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1) \
    {                                                                                                   \
        matmul_widen_avx2(F, y, x, w, NULL, n, d_in, d_out, o0, o1);                                    \
    }
DEFINE_WIDEN_MATMUL(mxfp4g, AVX2_MXFP4G)
DEFINE_WIDEN_MATMUL(q4_0, AVX2_Q4_0)
DEFINE_WIDEN_MATMUL(q4_1, AVX2_Q4_1)
DEFINE_WIDEN_MATMUL(q5_0, AVX2_Q5_0)
DEFINE_WIDEN_MATMUL(q5_1, AVX2_Q5_1)
DEFINE_WIDEN_MATMUL(q4_K, AVX2_Q4_K)
DEFINE_WIDEN_MATMUL(q5_K, AVX2_Q5_K)
DEFINE_WIDEN_MATMUL(q6_K, AVX2_Q6_K)
