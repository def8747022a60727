/* q8_0_avx512.c — AVX-512 Q8_0 matmul (same contract as matmul_q8_0_ref). Each block's 32 int8 are
 * widened to fp32 in registers and multiplied by the block scale before the FMA, exactly the reference's
 * products; only the summation order differs. Fewer than GEMM_MIN_TOKENS tokens stream each row once for up to 4 tokens, row-exact; prefill runs
 * the GEMM micro-kernel. */
#include <immintrin.h>
#include <string.h>

#include "kernels/gemm_avx512.h"
#include "kernels/kernels.h"

/* Prefill (gemm_blocks32): block kb of row `row` of the matrix. */
static inline __attribute__((always_inline)) void panel_block(const void *ctx, int row, int kb, __m512 *lo, __m512 *hi)
{
    const struct block32_matrix *m = ctx;
    q8_0_block_f32(m->w + (size_t)row * m->row_bytes + (size_t)kb * Q8_0_BLOCK_BYTES, lo, hi);
}

void matmul_q8_0_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1)
{
    matmul_block32(y, x, w, Q8_0_BLOCK_BYTES, n, d_in, d_out, o0, o1, q8_0_block_f32, panel_block);
}

/* The act q8 mode over Q8_0, Q4_0, Q4_1, Q5_0 and Q5_1 weights (same math as matmul_q8_0_q8_ref and
 * matmul_q4_0_q8_ref...; only the float summation order differs): a block's 32 weights become unsigned bytes
 * c + offset (Q8_0: the sign bit flipped, offset 128; the others their codes as stored, nibbles with Q5's fifth
 * bit or'ed in from qh by a mask move: q - 8 + 8, q - 16 + 16, q + 0), one vpdpbusd against the token's int8
 * activations seeded with -offset * sum(q) gives 8 int32 lanes of the exact dot product, converted and
 * accumulated with d_w * d_x; Q4_1/Q5_1 add m_w * d_x * sum(q) per block on the side. Two blocks per step on
 * two chains per token. Each row is streamed once for up to 4 tokens, and a token's arithmetic does not depend
 * on the others (row-exact). */
static const int b32_offset[] = {128, 8, 0, 16, 0};

static inline __attribute__((always_inline)) __m256i block_u8(const uint8_t *b, enum b32_format f, float *d, float *m)
{
    *d = f16_load(b);
    if (f == B32_Q8_0)
        return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80));
    const int qs = b32_codes_at(f);
    if (f == B32_Q4_1 || f == B32_Q5_1)
        *m = f16_load(b + 2);
    const __m128i v = _mm_loadu_si128((const __m128i *)(b + qs)); /* low nibbles: inputs 0..15, high: 16..31 */
    __m256i u = _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                                 _mm256_set1_epi8(0x0f));
    if (f == B32_Q5_0 || f == B32_Q5_1) { /* bit j of qh is the fifth bit of input j */
        uint32_t qh;
        memcpy(&qh, b + qs - 4, 4);
        u = _mm256_or_si256(u, _mm256_maskz_mov_epi8((__mmask32)qh, _mm256_set1_epi8(0x10)));
    }
    return u;
}

static inline __attribute__((always_inline)) void rows_q8(float *y, const struct act_q8 *x, size_t t0,
                                                          const uint8_t *row, enum b32_format f, int n_blocks, int d_out, int NT)
{
    const int bytes = b32_bytes(f), offset = b32_offset[f];
    const bool has_min = f == B32_Q4_1 || f == B32_Q5_1;
    __m256 a0[4], a1[4];
    float mn[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    for (int j = 0; j < NT; j++)
        a0[j] = a1[j] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        float d0, d1, m0 = 0.0f, m1 = 0.0f;
        const __m256i u0 = block_u8(row + (size_t)b * bytes, f, &d0, &m0);
        const __m256i u1 = block_u8(row + (size_t)(b + 1) * bytes, f, &d1, &m1);
        for (int j = 0; j < NT; j++) {
            const size_t at = (t0 + (size_t)j) * n_blocks + b;
            a0[j] = q8_block_dot(a0[j], u0, d0, x, at, offset);
            a1[j] = q8_block_dot(a1[j], u1, d1, x, at + 1, offset);
            if (has_min)
                mn[j] += m0 * (x->d[at] * (float)x->sum[at]) + m1 * (x->d[at + 1] * (float)x->sum[at + 1]);
        }
    }
    if (b < n_blocks) {
        float d0, m0 = 0.0f;
        const __m256i u0 = block_u8(row + (size_t)b * bytes, f, &d0, &m0);
        for (int j = 0; j < NT; j++) {
            const size_t at = (t0 + (size_t)j) * n_blocks + b;
            a0[j] = q8_block_dot(a0[j], u0, d0, x, at, offset);
            if (has_min)
                mn[j] += m0 * (x->d[at] * (float)x->sum[at]);
        }
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum256(_mm256_add_ps(a0[j], a1[j])) + mn[j];
}

static inline __attribute__((always_inline)) void matmul_b32_q8(float *y, const struct act_q8 *x, const void *w,
                                                                enum b32_format f, int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = (size_t)n_blocks * b32_bytes(f);
    for (int t = 0; t < n; t += 4) { /* token groups outside: a chunk's rows stay in L1/L2 across groups */
        const int nt = n - t < 4 ? n - t : 4;
        for (int o = o0; o < o1; o++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
            float *yt = y + (size_t)t * d_out + o;
            switch (nt) {
            case 4: rows_q8(yt, x, (size_t)t, row, f, n_blocks, d_out, 4); break;
            case 3: rows_q8(yt, x, (size_t)t, row, f, n_blocks, d_out, 3); break;
            case 2: rows_q8(yt, x, (size_t)t, row, f, n_blocks, d_out, 2); break;
            default: rows_q8(yt, x, (size_t)t, row, f, n_blocks, d_out, 1); break;
            }
        }
    }
}

DEFINE_B32_Q8_KERNELS(avx512)
