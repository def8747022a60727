/* kernels_avx2.c — AVX2 + FMA + F16C variants of the F32/BF16/F16/Q8_0 matmuls (same prototypes and math as
 * kernels_ref.c and q8_0.c), sum, dot, axpy and the attention rows, for CPUs without AVX-512 (widen_avx2.c has the other formats and
 * the prefill GEMM every format takes from AVX2_GEMM_MIN tokens).
 *
 * Decode streams each weight row once for up to 2 tokens (16 ymm registers: 4 accumulator chains of 8 lanes
 * per token plus the widened weights): every token's row is the same operation sequence whatever n is below
 * the GEMM (the row-exact contract of kernels.h); f32/bf16/f16 rows past KERN_ROWS_X_BYTES of one token's
 * activations go 4 / NT at a time with 2 chains each (bf16 at 9728 inputs 60 -> 90% of the probe). Inputs
 * past the last multiple of 32 (8 for Q8_0's halves) are summed in scalar order and added last. Products are
 * fp32 FMAs of exactly widened weights: only the summation order differs from the references. */
#include <immintrin.h>
#include <stdbool.h>
#include <string.h>

#include "kernels/attention_rows.h"
#include "kernels/exp_avx2.h"
#include "kernels/gemm_avx2.h"
#include "kernels/kernels.h"

static inline __m256 load8_f32(const void *p) { return _mm256_loadu_ps(p); }
static inline float one_f32(const void *p, int k) { return ((const float *)p)[k]; }
static inline float one_bf16(const void *p, int k) { return bf16_to_f32(((const uint16_t *)p)[k]); }
static inline float one_f16(const void *p, int k) { return f16_to_f32(((const uint16_t *)p)[k]); }

/* R rows (stride rs bytes) against NT tokens with C chains per row and token (R * NT * C <= 8): chain c takes
 * inputs k + 8c of every 8C, the rest goes scalar; y = the chains summed pairwise ((a0 + a1) + (a2 + a3) for 4),
 * across lanes, plus the scalar tail. A row's and token's operations depend on C only, not on R or NT. */
#define DEFINE_ROWS_AVX2(NAME, ESZ, LOAD, ONE)                                                          \
    static inline __attribute__((always_inline)) void NAME(float *y, const float *x, const char *wr,   \
                                                          size_t rs, int d_in, int d_out, int R, int NT, int C) \
    {                                                                                                   \
        __m256 a[4][4];                                                                                 \
        for (int i = 0; i < R * NT; i++)                                                                \
            for (int c = 0; c < C; c++)                                                                 \
                a[i][c] = _mm256_setzero_ps();                                                          \
        int k = 0;                                                                                      \
        for (; k + 8 * C <= d_in; k += 8 * C)                                                           \
            for (int r = 0; r < R; r++) {                                                               \
                __m256 w[4];                                                                            \
                for (int c = 0; c < C; c++)                                                             \
                    w[c] = LOAD(wr + r * rs + (size_t)(k + 8 * c) * ESZ);                               \
                for (int j = 0; j < NT; j++)                                                            \
                    for (int c = 0; c < C; c++)                                                         \
                        a[r * NT + j][c] =                                                              \
                            _mm256_fmadd_ps(w[c], _mm256_loadu_ps(x + (size_t)j * d_in + k + 8 * c), a[r * NT + j][c]); \
            }                                                                                           \
        for (int r = 0; r < R; r++)                                                                     \
            for (int j = 0; j < NT; j++) {                                                              \
                float tail = 0.0f;                                                                      \
                for (int kk = k; kk < d_in; kk++)                                                       \
                    tail += x[(size_t)j * d_in + kk] * ONE(wr + r * rs, kk);                            \
                const __m256 *c = a[r * NT + j];                                                        \
                const __m256 s = C == 4 ? _mm256_add_ps(_mm256_add_ps(c[0], c[1]), _mm256_add_ps(c[2], c[3])) \
                                        : _mm256_add_ps(c[0], c[1]);                                    \
                y[(size_t)j * d_out + r] = hsum8(s) + tail;                                             \
            }                                                                                           \
    }                                                                                                   \
    /* Each row once per pair of tokens (4 chains); where one token's activations pass KERN_ROWS_X_BYTES, 4 rows \
     * per pass for one token and 2 for two, with 2 chains (the row stream no longer evicts them) */   \
    void NAME##_matmul(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1) \
    {                                                                                                   \
        const size_t rs = (size_t)d_in * ESZ;                                                           \
        const bool wide = (size_t)d_in * sizeof(float) > KERN_ROWS_X_BYTES;                             \
        for (int t = 0; t < n; t += 2) {                                                                \
            const int nt = n - t < 2 ? n - t : 2, R = wide ? 4 / nt : 1;                                \
            float *yt = y + (size_t)t * d_out;                                                          \
            const float *xt = x + (size_t)t * d_in;                                                     \
            int o = o0;                                                                                 \
            for (; o + R <= o1; o += R) {                                                               \
                const char *wr = (const char *)w + (size_t)o * rs;                                      \
                if (!wide)                                                                              \
                    nt == 2 ? NAME(yt + o, xt, wr, rs, d_in, d_out, 1, 2, 4) : NAME(yt + o, xt, wr, rs, d_in, d_out, 1, 1, 4); \
                else                                                                                    \
                    nt == 2 ? NAME(yt + o, xt, wr, rs, d_in, d_out, 2, 2, 2) : NAME(yt + o, xt, wr, rs, d_in, d_out, 4, 1, 2); \
            }                                                                                           \
            for (; o < o1; o++) /* (wide leftovers) */                                                  \
                NAME(yt + o, xt, (const char *)w + (size_t)o * rs, rs, d_in, d_out, 1, nt, 2);          \
        }                                                                                               \
    }

DEFINE_ROWS_AVX2(rows_f32, 4, load8_f32, one_f32)
DEFINE_ROWS_AVX2(rows_bf16, 2, load8_bf16, one_bf16)
DEFINE_ROWS_AVX2(rows_f16, 2, load8_f16, one_f16)

void matmul_f32_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    if (n >= AVX2_GEMM_MIN) {
        matmul_widen_avx2(AVX2_F32, y, x, w, NULL, n, d_in, d_out, o0, o1);
        return;
    }
    rows_f32_matmul(y, x, w, n, d_in, d_out, o0, o1);
}
void matmul_bf16_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    if (n >= AVX2_GEMM_MIN) {
        matmul_widen_avx2(AVX2_BF16, y, x, w, NULL, n, d_in, d_out, o0, o1);
        return;
    }
    rows_bf16_matmul(y, x, w, n, d_in, d_out, o0, o1);
}
void matmul_f16_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    if (n >= AVX2_GEMM_MIN) {
        matmul_widen_avx2(AVX2_F16, y, x, w, NULL, n, d_in, d_out, o0, o1);
        return;
    }
    rows_f16_matmul(y, x, w, n, d_in, d_out, o0, o1);
}

/* Q8_0: each block's 32 int8 widened in four groups of 8 and scaled (the reference's products), one chain
 * per group. */
static inline __attribute__((always_inline)) void rows_q8_0(float *y, const float *x, const uint8_t *row, int d_in,
                                                            int d_out, int NT)
{
    __m256 a[2][4];
    for (int j = 0; j < NT; j++)
        for (int c = 0; c < 4; c++)
            a[j][c] = _mm256_setzero_ps();
    for (int kb = 0; kb < d_in / 32; kb++) {
        const uint8_t *b = row + (size_t)kb * Q8_0_BLOCK_BYTES;
        const __m256 d = _mm256_set1_ps(f16_ld(b));
        __m256 w[4];
        for (int c = 0; c < 4; c++)
            w[c] = _mm256_mul_ps(d, _mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(_mm_loadl_epi64((const __m128i *)(b + 2 + 8 * c)))));
        for (int j = 0; j < NT; j++)
            for (int c = 0; c < 4; c++)
                a[j][c] = _mm256_fmadd_ps(w[c], _mm256_loadu_ps(x + (size_t)j * d_in + (size_t)kb * 32 + 8 * c), a[j][c]);
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum8(_mm256_add_ps(_mm256_add_ps(a[j][0], a[j][1]), _mm256_add_ps(a[j][2], a[j][3])));
}

void matmul_q8_0_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    if (n >= AVX2_GEMM_MIN) {
        matmul_widen_avx2(AVX2_Q8_0, y, x, w, NULL, n, d_in, d_out, o0, o1);
        return;
    }
    const size_t row_bytes = (size_t)d_in / 32 * Q8_0_BLOCK_BYTES;
    for (int o = o0; o < o1; o++) {
        const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
        int t = 0;
        for (; t + 2 <= n; t += 2)
            rows_q8_0(y + (size_t)t * d_out + o, x + (size_t)t * d_in, row, d_in, d_out, 2);
        if (t < n)
            rows_q8_0(y + (size_t)t * d_out + o, x + (size_t)t * d_in, row, d_in, d_out, 1);
    }
}

/* The bandwidth probe's sum (n a multiple of 64): four chains of 8 lanes, two 32-byte loads per chain step. */
float sum_f32_avx2(const float *x, size_t n)
{
    __m256 a[4] = {_mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps(), _mm256_setzero_ps()};
    for (size_t i = 0; i < n; i += 64)
        for (int c = 0; c < 4; c++)
            a[c] = _mm256_add_ps(a[c], _mm256_add_ps(_mm256_loadu_ps(x + i + 16 * c), _mm256_loadu_ps(x + i + 16 * c + 8)));
    return hsum8(_mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3])));
}

/* 8 KV-cache values from element i of b as fp32: IEEE half with f16 (F16C widens exactly), else fp32. */
static inline __attribute__((always_inline)) __m256 load_kv8(const void *b, int f16, int i)
{
    return f16 ? _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)((const uint16_t *)b + i)))
               : _mm256_loadu_ps((const float *)b + i);
}
static inline float kv_value(const void *b, int f16, int i)
{
    return f16 ? f16_to_f32(((const uint16_t *)b)[i]) : ((const float *)b)[i];
}

/* sum_i a[i] * b[i], b fp32 or IEEE half: the same arithmetic over b's values either way. */
static inline __attribute__((always_inline)) float dot_kv(const float *a, const void *b, int f16, int n)
{
    __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        acc0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), load_kv8(b, f16, i), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), load_kv8(b, f16, i + 8), acc1);
    }
    float tail = 0.0f;
    for (; i < n; i++)
        tail += a[i] * kv_value(b, f16, i);
    return hsum8(_mm256_add_ps(acc0, acc1)) + tail;
}

static inline __attribute__((always_inline)) void axpy_kv(float *y, float a, const void *x, int f16, int n)
{
    const __m256 av = _mm256_set1_ps(a);
    int i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(y + i, _mm256_fmadd_ps(av, load_kv8(x, f16, i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++)
        y[i] += a * kv_value(x, f16, i);
}

float dot_f32_avx2(const float *a, const float *b, int n) { return dot_kv(a, b, 0, n); }
void axpy_f32_avx2(float *y, float a, const float *x, int n) { axpy_kv(y, a, x, 0, n); }

/* Rows to an f16 KV cache (kernels.h), 8 at a time with F16C, the tail by the reference. */
void f32_to_kv16_avx2(uint16_t *out, const float *x, size_t n)
{
    const __m256 lo = _mm256_set1_ps(-65504.0f), hi = _mm256_set1_ps(65504.0f), inf = _mm256_set1_ps(INFINITY);
    const __m256 sign = _mm256_set1_ps(-0.0f);
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        /* max/min return their second operand when either is NaN: x goes second, so NaN stays NaN */
        const __m256 xi = _mm256_loadu_ps(x + i), c = _mm256_min_ps(hi, _mm256_max_ps(lo, xi));
        const __m256 is_inf = _mm256_cmp_ps(_mm256_andnot_ps(sign, xi), inf, _CMP_EQ_OQ);
        _mm_storeu_si128((__m128i *)(out + i), _mm256_cvtps_ph(_mm256_blendv_ps(c, xi, is_inf), _MM_FROUND_TO_NEAREST_INT));
    }
    f32_to_kv16_ref(out + i, x + i, n - i);
}

/* Attention (kernels.h): the online-softmax row path over these dot and axpy, for every number of rows. */
void attention_rows_avx2(const struct attn_rows *a)
{
    if (a->bf16) { /* bf16 products: only for CPUs with AVX512-BF16, which take the AVX-512 kernel */
        attention_rows_ref(a);
        return;
    }
    attention_rows_online(a, dot_kv, axpy_kv);
}
/* exp(s[j] - m) in place (exp256), their sum */
static float expsum_avx2(float *s, int n, float m)
{
    __m256 acc = _mm256_setzero_ps();
    const __m256 mv = _mm256_set1_ps(m);
    int j = 0;
    for (; j + 8 <= n; j += 8) {
        const __m256 e = exp256(_mm256_sub_ps(_mm256_loadu_ps(s + j), mv));
        _mm256_storeu_ps(s + j, e);
        acc = _mm256_add_ps(acc, e);
    }
    if (j < n) {
        const __m256i k = mask8(n - j);
        const __m256 e = _mm256_and_ps(exp256(_mm256_sub_ps(_mm256_maskload_ps(s + j, k), mv)), _mm256_castsi256_ps(k));
        _mm256_maskstore_ps(s + j, k, e);
        acc = _mm256_add_ps(acc, e);
    }
    return hsum8(acc);
}

/* Lane i of the result: the sum of a[i]'s 8 lanes. */
static inline __attribute__((always_inline)) __m256 sum8(const __m256 *a)
{
    const __m256 q0 = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
    const __m256 q1 = _mm256_hadd_ps(_mm256_hadd_ps(a[4], a[5]), _mm256_hadd_ps(a[6], a[7]));
    /* q0: a0..a3's sums of lanes 0-3, then of lanes 4-7; q1 the same for a4..a7 */
    return _mm256_add_ps(_mm256_permute2f128_ps(q0, q1, 0x20), _mm256_permute2f128_ps(q0, q1, 0x31));
}

/* The largest of s[0..n). */
static inline float max8(const float *s, int n)
{
    __m256 m = _mm256_set1_ps(s[0]);
    int j = 0;
    for (; j + 8 <= n; j += 8)
        m = _mm256_max_ps(m, _mm256_loadu_ps(s + j));
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    float best = _mm_cvtss_f32(_mm_max_ss(h, _mm_shuffle_ps(h, h, 1)));
    for (; j < n; j++)
        best = s[j] > best ? s[j] : best;
    return best;
}

/* The decode partial in register tiles (attn_part_tiles.h) over 8-lane vectors: score tiles of 4 heads x 2 keys,
 * 2 x 4, 1 x 8, value tiles of 4 heads x 2 slices, 2 or 1 x 4; dimensions that are not multiples of 8 take the
 * row form. */
#define PT_V __m256
#define PT_W 8
#define PT_ZERO() _mm256_setzero_ps()
#define PT_LOADU(p) _mm256_loadu_ps(p)
#define PT_STOREU(p, v) _mm256_storeu_ps(p, v)
#define PT_FMA(a, b, c) _mm256_fmadd_ps(a, b, c)
#define PT_MUL(a, b) _mm256_mul_ps(a, b)
#define PT_SET1(x) _mm256_set1_ps(x)
#define PT_LOAD_KV(base, f16, i) load_kv8(base, f16, i)
#define PT_SUMW(acc) sum8(acc)
#define PT_MAX(s, n) max8(s, n)
#define PT_EXPSUM(s, n, m) expsum_avx2(s, n, m)
#include "kernels/attn_part_tiles.h"

void attention_part_avx2(const struct attn_part *a)
{
    if (a->d_k % 8 || a->d_v % 8)
        attention_part_keys(a, dot_kv, axpy_kv, expsum_avx2);
    else
        attention_part_tiled(a);
}
