/* kernels_avx512.c — AVX-512 variants of kernels_ref.c (same prototypes, same math).
 *
 * matmul: fewer than GEMM_MIN_TOKENS tokens (decode, a batch of sequences' decode steps) stream each
 * weight row once for up to 4 tokens, every token computed exactly as alone; prefill runs the GEMM
 * micro-kernel of gemm_avx512.h. Products are fp32 FMAs of exactly-converted weights: the results differ
 * from the reference only in summation order. Past KERN_ROWS_X_BYTES of one token's activations (4096
 * inputs: Qwen3-4B's down projection has 9728, DeepSeek-V3's output head 7168) decode takes 8 / NT rows per
 * pass with two chains per row and token (DEFINE_ROWS_WIDE): a bf16 row of 9728 inputs 41 -> 82% of the
 * memory's read speed.
 */
#include <immintrin.h>
#include <stdbool.h>

#include "kernels/kernels.h"

static inline __m512 load_f32(const void *p, __mmask16 m) { return _mm512_maskz_loadu_ps(m, p); }
static inline __m512 load_bf16(const void *p, __mmask16 m)
{
    __m256i h = _mm256_maskz_loadu_epi16(m, p);
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
}
static inline __m512 load_f16(const void *p, __mmask16 m)
{
    return _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, p));
}

/* One weight row against NT tokens (NT a compile-time constant at every call, so the accumulators stay in
 * registers): the row is streamed front to back once, each token with four accumulator chains (k mod 64 in
 * 16-wide quarters, the tail into the first), summed (a0 + a1) + (a2 + a3). Every token's result is the
 * same operation sequence whatever NT is, so a token's row is bitwise the same alone (decode) or beside
 * others (a batch of sequences). Measured on the 2-core AMD EPYC dev machine: one sequential stream per
 * thread reads ~2.5x faster than a 4-row tile's four interleaved streams, which defeat the prefetcher. */
#define DEFINE_ROWS(NAME, ESZ, LOAD)                                                                    \
    static inline __attribute__((always_inline)) void NAME(float *y, const float *x, const char *wr,   \
                                                          int d_in, int d_out, int NT)                 \
    {                                                                                                   \
        __m512 a[4][4];                                                                                 \
        _Pragma("GCC unroll 4") for (int j = 0; j < NT; j++)                                            \
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)                                         \
                a[j][c] = _mm512_setzero_ps();                                                          \
        int k = 0;                                                                                      \
        for (; k + 64 <= d_in; k += 64) {                                                               \
            __m512 w[4];                                                                                \
            _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)                                         \
                w[c] = LOAD(wr + (size_t)(k + 16 * c) * ESZ, 0xffff);                                   \
            _Pragma("GCC unroll 4") for (int j = 0; j < NT; j++)                                        \
                _Pragma("GCC unroll 4") for (int c = 0; c < 4; c++)                                     \
                    a[j][c] = _mm512_fmadd_ps(w[c], _mm512_loadu_ps(x + (size_t)j * d_in + k + 16 * c), a[j][c]); \
        }                                                                                               \
        for (; k < d_in; k += 16) {                                                                     \
            const __mmask16 m = d_in - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d_in - k)) - 1); \
            const __m512 wv = LOAD(wr + (size_t)k * ESZ, m);                                            \
            _Pragma("GCC unroll 4") for (int j = 0; j < NT; j++)                                        \
                a[j][0] = _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + (size_t)j * d_in + k), a[j][0]); \
        }                                                                                               \
        _Pragma("GCC unroll 4") for (int j = 0; j < NT; j++)                                            \
            y[(size_t)j * d_out] = _mm512_reduce_add_ps(                                                \
                _mm512_add_ps(_mm512_add_ps(a[j][0], a[j][1]), _mm512_add_ps(a[j][2], a[j][3])));       \
    }

/* The same for R rows at once (rows of rs bytes), where one token's activations pass KERN_ROWS_X_BYTES: per row
 * and token two chains (each 32-input step's halves, a 16-wide tail into the first), so that R * NT <= 8 pairs
 * stay in registers; a row's and token's operations are the same whatever R and NT are. */
#define DEFINE_ROWS_WIDE(NAME, ESZ, LOAD)                                                               \
    static inline __attribute__((always_inline)) void NAME(float *y, const float *x, const char *wr,   \
                                                          size_t rs, int d_in, int d_out, int R, int NT) \
    {                                                                                                   \
        __m512 a[8][2];                                                                                 \
        _Pragma("GCC unroll 8") for (int i = 0; i < R * NT; i++)                                        \
            a[i][0] = a[i][1] = _mm512_setzero_ps();                                                    \
        int k = 0;                                                                                      \
        for (; k + 32 <= d_in; k += 32)                                                                 \
            _Pragma("GCC unroll 8") for (int r = 0; r < R; r++) {                                       \
                const __m512 w0 = LOAD(wr + r * rs + (size_t)k * ESZ, 0xffff);                          \
                const __m512 w1 = LOAD(wr + r * rs + (size_t)(k + 16) * ESZ, 0xffff);                   \
                _Pragma("GCC unroll 4") for (int j = 0; j < NT; j++) {                                  \
                    a[r * NT + j][0] = _mm512_fmadd_ps(w0, _mm512_loadu_ps(x + (size_t)j * d_in + k), a[r * NT + j][0]); \
                    a[r * NT + j][1] =                                                                  \
                        _mm512_fmadd_ps(w1, _mm512_loadu_ps(x + (size_t)j * d_in + k + 16), a[r * NT + j][1]); \
                }                                                                                       \
            }                                                                                           \
        for (; k < d_in; k += 16) {                                                                     \
            const __mmask16 m = d_in - k >= 16 ? (__mmask16)0xffff : (__mmask16)((1u << (d_in - k)) - 1); \
            for (int r = 0; r < R; r++) {                                                               \
                const __m512 wv = LOAD(wr + r * rs + (size_t)k * ESZ, m);                               \
                for (int j = 0; j < NT; j++)                                                            \
                    a[r * NT + j][0] =                                                                  \
                        _mm512_fmadd_ps(wv, _mm512_maskz_loadu_ps(m, x + (size_t)j * d_in + k), a[r * NT + j][0]); \
            }                                                                                           \
        }                                                                                               \
        _Pragma("GCC unroll 8") for (int r = 0; r < R; r++)                                             \
            _Pragma("GCC unroll 4") for (int j = 0; j < NT; j++)                                        \
                y[(size_t)j * d_out + r] = _mm512_reduce_add_ps(_mm512_add_ps(a[r * NT + j][0], a[r * NT + j][1])); \
    }                                                                                                   \
    /* rows o0..o1 for NT tokens, R at a time (leftovers alone) */                                      \
    static inline __attribute__((always_inline)) void NAME##_group(float *y, const float *x, const char *wb, \
                                                                  int d_in, int d_out, int o0, int o1, int R, int NT) \
    {                                                                                                   \
        const size_t rs = (size_t)d_in * ESZ;                                                           \
        int o = o0;                                                                                     \
        for (; o + R <= o1; o += R)                                                                     \
            NAME(y + o, x, wb + (size_t)o * rs, rs, d_in, d_out, R, NT);                                \
        for (; o < o1; o++)                                                                             \
            NAME(y + o, x, wb + (size_t)o * rs, rs, d_in, d_out, 1, NT);                                \
    }

#include "kernels/gemm_avx512.h"

#define DEFINE_GEMM(NAME, ESZ, LOAD)                                                                    \
    static void NAME(float *y, const float *x, const char *wb, int n, int d_in, int d_out, int o0, int o1) \
    {                                                                                                   \
        float panel[GEMM_KC * 16] __attribute__((aligned(64)));                                         \
        const size_t rs = (size_t)d_in * ESZ;                                                           \
        const int n_rows = o1 - o0;                                                                     \
        for (int k0 = 0; k0 < d_in; k0 += GEMM_KC) {                                                    \
            const int kc = d_in - k0 < GEMM_KC ? d_in - k0 : GEMM_KC;                                   \
            for (int kk = 0; kk < kc; kk += 16) {                                                       \
                const int w = kc - kk < 16 ? kc - kk : 16;                                              \
                const __mmask16 m = (__mmask16)((1u << w) - 1);                                         \
                __m512 r[16], c[16];                                                                    \
                for (int i = 0; i < 16; i++)                                                            \
                    r[i] = i < n_rows ? LOAD(wb + (size_t)(o0 + i) * rs + (size_t)(k0 + kk) * ESZ, m)    \
                                      : _mm512_setzero_ps();                                            \
                transpose16(r, c);                                                                      \
                for (int j = 0; j < w; j++)                                                             \
                    _mm512_store_ps(panel + (size_t)(kk + j) * 16, c[j]);                               \
            }                                                                                           \
            gemm_panel(y + o0, x + k0, panel, n, kc, d_in, d_out, k0 > 0, n_rows);                      \
        }                                                                                               \
    }

/* One matmul variant per weight dtype; ESZ is the element size in bytes, LOAD widens 16 of them. Fewer
 * than GEMM_MIN_TOKENS tokens: each row streamed once for groups of up to 4 tokens (row-exact: every token
 * bitwise as alone); more: the GEMM micro-kernel. */
#define DEFINE_MATMUL(NAME, ESZ, LOAD)                                                                  \
    DEFINE_ROWS(NAME##_rows, ESZ, LOAD)                                                                 \
    DEFINE_ROWS_WIDE(NAME##_wide, ESZ, LOAD)                                                            \
    DEFINE_GEMM(NAME##_gemm, ESZ, LOAD)                                                                 \
    void NAME(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)     \
    {                                                                                                   \
        const char *wb = w;                                                                             \
        if (n >= GEMM_MIN_TOKENS) {                                                                     \
            for (int g = o0; g < o1; g += 16)                                                           \
                NAME##_gemm(y, x, wb, n, d_in, d_out, g, g + 16 < o1 ? g + 16 : o1);                    \
            return;                                                                                     \
        }                                                                                               \
        if ((size_t)d_in * sizeof(float) > KERN_ROWS_X_BYTES) {                                         \
            for (int t = 0; t < n; t += 4) {                                                            \
                float *yt = y + (size_t)t * d_out;                                                      \
                const float *xt = x + (size_t)t * d_in;                                                 \
                switch (n - t < 4 ? n - t : 4) {                                                        \
                case 4: NAME##_wide_group(yt, xt, wb, d_in, d_out, o0, o1, 2, 4); break;                \
                case 3: NAME##_wide_group(yt, xt, wb, d_in, d_out, o0, o1, 2, 3); break;                \
                case 2: NAME##_wide_group(yt, xt, wb, d_in, d_out, o0, o1, 4, 2); break;                \
                default: NAME##_wide_group(yt, xt, wb, d_in, d_out, o0, o1, 8, 1); break;               \
                }                                                                                       \
            }                                                                                           \
            return;                                                                                     \
        }                                                                                               \
        const size_t rs = (size_t)d_in * ESZ;                                                           \
        for (int o = o0; o < o1; o++) {                                                                 \
            const char *wr = wb + (size_t)o * rs;                                                       \
            int t = 0;                                                                                  \
            for (; t + 4 <= n; t += 4)                                                                  \
                NAME##_rows(y + (size_t)t * d_out + o, x + (size_t)t * d_in, wr, d_in, d_out, 4);       \
            float *yt = y + (size_t)t * d_out + o;                                                      \
            const float *xt = x + (size_t)t * d_in;                                                     \
            switch (n - t) {                                                                            \
            case 3: NAME##_rows(yt, xt, wr, d_in, d_out, 3); break;                                     \
            case 2: NAME##_rows(yt, xt, wr, d_in, d_out, 2); break;                                     \
            case 1: NAME##_rows(yt, xt, wr, d_in, d_out, 1); break;                                     \
            default: break;                                                                             \
            }                                                                                           \
        }                                                                                               \
    }

DEFINE_MATMUL(matmul_f32_avx512, 4, load_f32)
DEFINE_MATMUL(matmul_bf16_avx512, 2, load_bf16)
DEFINE_MATMUL(matmul_f16_avx512, 2, load_f16)

float sum_f32_avx512(const float *x, size_t n)
{
    __m512 a0 = _mm512_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    for (size_t i = 0; i < n; i += 64) {
        a0 = _mm512_add_ps(a0, _mm512_loadu_ps(x + i));
        a1 = _mm512_add_ps(a1, _mm512_loadu_ps(x + i + 16));
        a2 = _mm512_add_ps(a2, _mm512_loadu_ps(x + i + 32));
        a3 = _mm512_add_ps(a3, _mm512_loadu_ps(x + i + 48));
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)));
}

float dot_f32_avx512(const float *a, const float *b, int n) { return dot512(a, b, n); }

void axpy_f32_avx512(float *y, float a, const float *x, int n) { axpy512(y, a, x, n); }
