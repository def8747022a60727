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

/* The act q8 mode over Q8_0 and Q4_0 weights (same math as matmul_q8_0_q8_ref / matmul_q4_0_q8_ref; only the
 * float summation order differs): a block's 32 weights become unsigned bytes w + offset (Q8_0: the sign bit
 * flipped, offset 128; Q4_0: the nibbles as stored, q - 8 + 8), one vpdpbusd against the token's int8
 * activations seeded with -offset * sum(q) gives 8 int32 lanes of the exact dot product, converted and
 * accumulated with d_w * d_x; two blocks per step on two chains per token. Each row is streamed once for up
 * to 4 tokens, and a token's arithmetic does not depend on the others (row-exact). */
static inline __attribute__((always_inline)) __m256i block_u8(const uint8_t *b, bool q4, float *d)
{
    *d = f16_load(b);
    if (q4) { /* low nibbles (inputs 0..15), then high (16..31) */
        const __m128i v = _mm_loadu_si128((const __m128i *)(b + 2));
        return _mm256_and_si256(_mm256_inserti128_si256(_mm256_castsi128_si256(v), _mm_srli_epi16(v, 4), 1),
                                _mm256_set1_epi8(0x0f));
    }
    return _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)(b + 2)), _mm256_set1_epi8((char)0x80));
}

static inline __attribute__((always_inline)) void rows_q8(float *y, const struct act_q8 *x, size_t t0,
                                                          const uint8_t *row, bool q4, int n_blocks, int d_out, int NT)
{
    const int bytes = q4 ? 18 : Q8_0_BLOCK_BYTES, offset = q4 ? 8 : 128;
    __m256 a0[4], a1[4];
    for (int j = 0; j < NT; j++)
        a0[j] = a1[j] = _mm256_setzero_ps();
    int b = 0;
    for (; b + 2 <= n_blocks; b += 2) {
        float d0, d1;
        const __m256i u0 = block_u8(row + (size_t)b * bytes, q4, &d0);
        const __m256i u1 = block_u8(row + (size_t)(b + 1) * bytes, q4, &d1);
        for (int j = 0; j < NT; j++) {
            const size_t at = (t0 + (size_t)j) * n_blocks + b;
            a0[j] = q8_block_dot(a0[j], u0, d0, x, at, offset);
            a1[j] = q8_block_dot(a1[j], u1, d1, x, at + 1, offset);
        }
    }
    if (b < n_blocks) {
        float d0;
        const __m256i u0 = block_u8(row + (size_t)b * bytes, q4, &d0);
        for (int j = 0; j < NT; j++)
            a0[j] = q8_block_dot(a0[j], u0, d0, x, (t0 + (size_t)j) * n_blocks + b, offset);
    }
    for (int j = 0; j < NT; j++)
        y[(size_t)j * d_out] = hsum256(_mm256_add_ps(a0[j], a1[j]));
}

static inline __attribute__((always_inline)) void matmul_q8(float *y, const struct act_q8 *x, const void *w, bool q4,
                                                            int n, int d_in, int d_out, int o0, int o1)
{
    const int n_blocks = d_in / 32;
    const size_t row_bytes = (size_t)n_blocks * (q4 ? 18 : Q8_0_BLOCK_BYTES);
    for (int t = 0; t < n; t += 4) { /* token groups outside: a chunk's rows stay in L1/L2 across groups */
        const int nt = n - t < 4 ? n - t : 4;
        for (int o = o0; o < o1; o++) {
            const uint8_t *row = (const uint8_t *)w + (size_t)o * row_bytes;
            float *yt = y + (size_t)t * d_out + o;
            switch (nt) {
            case 4: rows_q8(yt, x, (size_t)t, row, q4, n_blocks, d_out, 4); break;
            case 3: rows_q8(yt, x, (size_t)t, row, q4, n_blocks, d_out, 3); break;
            case 2: rows_q8(yt, x, (size_t)t, row, q4, n_blocks, d_out, 2); break;
            default: rows_q8(yt, x, (size_t)t, row, q4, n_blocks, d_out, 1); break;
            }
        }
    }
}

void matmul_q8_0_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1)
{
    matmul_q8(y, x, w, false, n, d_in, d_out, o0, o1);
}

void matmul_q4_0_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1)
{
    matmul_q8(y, x, w, true, n, d_in, d_out, o0, o1);
}
