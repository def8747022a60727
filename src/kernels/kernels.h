/* kernels.h — pure CPU kernels on raw pointers, each a plain reference (*_ref, written like the math)
 * plus SIMD variants behind the same prototype, chosen once at start-up by CPU feature (kernels_init).
 *
 * Conventions: a weight matrix w is (d_out, d_in) row-major in its stored dtype (PyTorch's [out, in]);
 * activations are fp32 and contiguous. Kernels never allocate and never spawn threads: the backend
 * splits work (output-row ranges) across threads.
 */
#ifndef OWL_KERNELS_H
#define OWL_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "kernels/fp8.h"

/* bf16 -> f32 is exact: the bf16 bits are the high half of the f32. */
static inline float bf16_to_f32(uint16_t h)
{
    union { uint32_t u; float f; } v = {.u = (uint32_t)h << 16};
    return v.f;
}
/* f32 -> bf16 rounded to nearest even (as VCVTNE2PS2BF16 for normal values; NaN stays NaN). */
static inline uint16_t f32_to_bf16(float f)
{
    union { float f; uint32_t u; } v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u)
        return (uint16_t)(v.u >> 16 | 0x40);
    return (uint16_t)((v.u + 0x7fffu + (v.u >> 16 & 1)) >> 16);
}
float f16_to_f32(uint16_t h); /* exact, handles subnormals, inf, nan */
uint16_t f32_to_f16(float f); /* round to nearest even, overflow to inf, subnormals kept */

/* y[t, o] = sum_k x[t, k] * w[o, k] for t in [0, n), o in [o0, o1).
 * y: (n, d_out) row stride d_out; x: (n, d_in); w: (d_out, d_in) in the kernel's dtype.
 * Row-exact contract, for every matmul kernel of every table: with n <= KERN_ROW_EXACT_TOKENS, row t of y
 * is bitwise what the same kernel gives for token t alone (n = 1), so a batch of sequences' decode steps
 * computes each sequence exactly as it would alone (tests/kernels checks it per dtype). */
#define KERN_ROW_EXACT_TOKENS 4
/* From this many tokens a matmul is prefill-sized: the GEMM micro-kernels and the ops' prefill paths take it;
 * fewer are decode steps (each row streamed once per 4 tokens), whose forwards run as one pass (ops_pass). */
#define GEMM_MIN_TOKENS 8
/* Decode kernels stream a weight row once for up to 4 tokens while the tokens' fp32 activations stay in L1.
 * Past this many bytes of activations (NT * d_in * 4: one token of 4096+ inputs, 4 of 1024+) the row
 * stream evicts them on every row and they come back from L2 (a bf16 row of 9728 inputs ran at 43% of the
 * memory's read speed against 85% at 1024; docs/BENCHMARKS.md): the kernels that know it take several rows
 * per pass there (8 / NT), each row computed as alone, so the numbers do not change. */
#define KERN_ROWS_X_BYTES 16384
typedef void matmul_fn(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);

void matmul_f32_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_bf16_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_f16_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_f32_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_bf16_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_f16_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
/* AVX2 + FMA + F16C (kernels_avx2.c): the matmuls, dot and axpy, for CPUs without AVX-512. */
void matmul_f32_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_bf16_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_f16_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q8_0_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
/* The other formats on AVX2 (widen_avx2.c): MXFP4 (both layouts), FP8 blocks, the GGML block formats. */
void matmul_mxfp4_avx2(float *y, const float *x, const void *w, const void *scales, int n, int d_in, int d_out,
                       int o0, int o1);
void matmul_mxfp4g_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_fp8_avx2(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                     int o0, int o1);
void matmul_q4_0_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q4_1_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q5_0_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q5_1_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q4_K_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q5_K_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q6_K_avx2(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
float dot_f32_avx2(const float *a, const float *b, int n);
void axpy_f32_avx2(float *y, float a, const float *x, int n);
/* BF16 weights against activations rounded to bf16 (the opt-in reduced-precision modes, ops_set_act):
 * y = sum_k w[o,k] * bf16(x[t,k]) in fp32 (products exact). The AVX-512 one needs AVX512-BF16. */
void matmul_bf16_act_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_bf16_act_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
/* Q8_0 weights in that mode (prefill): y = sum_k bf16(d * q[o,k]) * bf16(x[t,k]) in fp32. */
void matmul_q8_0_act_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
/* The weights the bf16-activation GEMM takes: BF16 as stored; Q8_0, Q4_0, Q4_1, Q5_0, Q5_1 and the K-quants each
 * dequantized exactly (their reference dequantizer's values) and rounded to bf16. */
enum act_bf16_weights { ACT_W_BF16, ACT_W_Q8_0, ACT_W_Q4_K, ACT_W_Q5_K, ACT_W_Q6_K, ACT_W_Q4_0, ACT_W_Q4_1, ACT_W_Q5_0, ACT_W_Q5_1, ACT_W_FP8 };
/* That mode's sums over any of them, row by row: y = sum_k bf16(w[o,k]) * bf16(x[t,k]) in fp32, w from deq
 * (dequantize_row_q8_0, dequantize_row_q4_K, ...; rows of row_bytes). */
void matmul_deq_act_ref(float *y, const float *x, const void *w, void (*deq)(float *, const void *, int),
                        size_t row_bytes, int n, int d_in, int d_out, int o0, int o1);
/* The same over FP8 blocks (kernels/fp8.h): bf16(e4m3(w[o,k]) * scale) * bf16(x[t,k]). */
void matmul_fp8_act_ref(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                        int o0, int o1);
/* The prefill GEMM of that mode (AVX512-BF16; bf16act_avx512.c), the sums of matmul_bf16_act_ref (BF16 weights)
 * or matmul_deq_act_ref (the other formats of enum act_bf16_weights) in another order. The activations are packed once per matmul:
 * pack_act_bf16 writes tiles [tile0, tile1) of ACT_BF16_TILE tokens, each tile's inputs in slices of
 * ACT_BF16_SLICE, as bf16 with zeros past n and d_in (act_bf16_packed_len(n, d_in) elements in all, 64-byte
 * aligned); then each thread runs gemm_bf16_act over its rows with its own panel of ACT_BF16_PANEL floats
 * (64-byte aligned). */
#define ACT_BF16_TILE 8
#define ACT_BF16_SLICE 256
#define ACT_BF16_SUPER 2048
#define ACT_BF16_PANEL (3 * ACT_BF16_SUPER / 2 * 16)
#define ACT_BF16_ROWS 48 /* rows per panel: the backend's units of work (claims) for this GEMM */
static inline size_t act_bf16_packed_len(int n, int d_in)
{
    return (size_t)(n + ACT_BF16_TILE - 1) / ACT_BF16_TILE * ACT_BF16_TILE *
           ((size_t)(d_in + ACT_BF16_SLICE - 1) / ACT_BF16_SLICE * ACT_BF16_SLICE);
}
void pack_act_bf16_avx512(uint16_t *xp, const float *x, int n, int d_in, int tile0, int tile1);
void gemm_bf16_act_avx512(float *y, const uint16_t *xp, const void *w, const float *scales, enum act_bf16_weights fmt,
                          int n, int d_in, int d_out, int o0, int o1, float *panel);

/* MXFP4 (mxfp4.c): w is (d_out, d_in/32, 16) bytes of E2M1 pairs (low nibble first), scales (d_out, d_in/32)
 * E8M0 bytes; value = mxfp4_e2m1[code] * 2^(s - 127). d_in must be a multiple of 32. Same contract as
 * matmul_fn otherwise. */
typedef void matmul_mxfp4_fn(float *y, const float *x, const void *w, const void *scales, int n, int d_in,
                             int d_out, int o0, int o1);
void matmul_mxfp4_ref(float *y, const float *x, const void *w, const void *scales, int n, int d_in, int d_out,
                      int o0, int o1);
void matmul_mxfp4_avx512(float *y, const float *x, const void *w, const void *scales, int n, int d_in, int d_out,
                         int o0, int o1);
/* GGML MXFP4 (DTYPE_MXFP4): 17-byte blocks {e8m0 scale; 16 bytes: low nibbles inputs 0..15, high 16..31};
 * a matmul_fn. */
void dequantize_block_mxfp4(float *y, const uint8_t *block);
void matmul_mxfp4g_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_mxfp4g_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
extern const float mxfp4_e2m1[16]; /* E2M1 code -> value: 0, .5, 1, 1.5, 2, 3, 4, 6, then the negatives */
/* 2^(s - 128) for an E8M0 byte s: the scale of the doubled (integer) E2M1 values the SIMD kernels use. */
extern const uint32_t mxfp4_half_scale_bits[256];
static inline float mxfp4_half_scale(uint8_t s)
{
    union { uint32_t u; float f; } v = {.u = mxfp4_half_scale_bits[s]};
    return v.f;
}

/* Activations quantized to int8 blocks for integer dot products (the opt-in `act q8` mode): per token and
 * 32-input block b, d[b] = max|x| / 127 and q = round(x / d) (0 where the block is all zeros), sum[b] = the
 * block's sum of q. A token's q row is d_in bytes, its d and sum rows d_in / 32 values. With `interleave`
 * each block's q is stored as inputs 0, 2, ..., 30 then 1, 3, ..., 31: the order of the nibbles of an HF
 * MXFP4 block (low nibbles first), so that every layout's kernel reads q[j] against the low nibble of byte j
 * and q[16 + j] against its high nibble. */
struct act_q8 {
    int8_t *q;
    float *d;
    int32_t *sum;
};
typedef void quantize_act_q8_fn(const struct act_q8 *a, const float *x, int n, int d_in, bool interleave);
void quantize_act_q8_ref(const struct act_q8 *a, const float *x, int n, int d_in, bool interleave);
void quantize_act_q8_avx512(const struct act_q8 *a, const float *x, int n, int d_in, bool interleave);

/* MXFP4 weights (HF layout with scales, or GGML's 17-byte blocks with scales NULL) against q8 activations:
 * y[t, o] = sum_b (d[b] * 2^(s_b - 128)) * sum_j q[j] * 2e2m1[code_j] for o in [o0, o1), the integer
 * block sums exact. Row-exact for n <= KERN_ROW_EXACT_TOKENS, like the other matmuls. */
typedef void matmul_mxfp4_q8_fn(float *y, const struct act_q8 *x, const void *w, const void *scales, int n,
                                int d_in, int d_out, int o0, int o1);
void matmul_mxfp4_q8_ref(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                         int d_out, int o0, int o1);
void matmul_mxfp4_q8_avx512(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                            int d_out, int o0, int o1);
void matmul_mxfp4_q8_avx2(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                          int d_out, int o0, int o1);
void matmul_mxfp4_q8_vbmi(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                          int d_out, int o0, int o1); /* needs AVX512-VBMI as well */
/* MXFP4 rows regrouped in slabs of 16 (weight.slabs, done at load by mxfp4_to_slabs where matmul_mxfp4s_q8 is in
 * the table): the slab of rows 16k..16k+15 takes their place (same bytes). GGML blocks (scales NULL): block b of a
 * slab is the MXFP4_SLAB_BLOCK bytes from b * MXFP4_SLAB_BLOCK, the 16 rows' E8M0 scale bytes, then 4 groups of 64
 * bytes, group c holding code bytes 4c..4c+3 of row r's block at 4r. The HF layout keeps codes and scales apart:
 * a slab's block b is 256 bytes of codes (the 4 groups) at b * 256 and 16 scale bytes (row r's at r) at b * 16. So a
 * zmm load is 4 code bytes of 16 rows, one row per int32 lane, against 4 activations broadcast. d_out a multiple of
 * 16; tmp 16 rows' bytes. */
enum { MXFP4_SLAB_BLOCK = 16 * 17 };
void mxfp4_to_slabs(uint8_t *w, uint8_t *scales, int d_in, int d_out, uint8_t *tmp);
/* matmul_mxfp4_q8's numbers over slabs (the reference, block for block the same sums as matmul_mxfp4_q8_ref on the
 * rows they came from); o0 and o1 multiples of 16. */
void matmul_mxfp4s_q8_ref(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                          int d_out, int o0, int o1);
void matmul_mxfp4s_q8_vbmi(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                           int d_out, int o0, int o1); /* needs AVX512-VBMI and VNNI */
void matmul_mxfp4s_q8_avx2(float *y, const struct act_q8 *x, const void *w, const void *scales, int n, int d_in,
                           int d_out, int o0, int o1); /* AVX2: 8 rows a vector, vpshufb and vpmaddubsw */
/* Q8_0 weights against q8 activations (natural order, interleave false): y[t, o] = sum_b (d_w[b] * d[b]) *
 * sum_j q_w[j] * q[j]; ggml's own Q8_0 dot product (the reference sums each block exactly in integers; the
 * AVX-512 kernel's lanes are exact integers, the sign-flip offset's share added in fp32 per group of 8 blocks).
 * Row-exact for every n (each row is streamed for up to 4 tokens at a time). */
typedef void matmul_q8_0_q8_fn(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                               int o1);
void matmul_q8_0_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q8_0_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1);
void matmul_q8_0_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
/* The act q8 mode's prefill GEMM over Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K and Q6_K weights (fmt ACT_W_Q8_0,
 * ...; VNNI; not row-exact: for n >= 8 outside row-exact mode): the same y as matmul_q8_0_q8, matmul_q4_0_q8, ...,
 * matmul_q4_K_q8 (block sums exact in integers, the blocks' float order differs), rows o0..o1 in chunks of
 * Q8_GEMM_ROWS packed into panel (gemm_blocks_q8_panel_bytes(d_in), 64-byte aligned, one per thread). */
#define Q8_GEMM_ROWS 32
size_t gemm_blocks_q8_panel_bytes(int d_in);
void gemm_blocks_q8_avx512(float *y, const struct act_q8 *x, const void *w, enum act_bf16_weights fmt, int n, int d_in,
                           int d_out, int o0, int o1, void *panel);
/* Q4_0, Q4_1, Q5_0 and Q5_1 weights against q8 activations, the same way: y[t, o] = sum_b (d_w[b] * d[b]) *
 * sum_j c_w[j] * q[j] (+ m_w[b] * d[b] * sum_j q[j] for Q4_1 and Q5_1), c the block's integer codes (Q4_0 q - 8,
 * Q5_0 q - 16, Q4_1/Q5_1 q): ggml's dot products of these formats against Q8_0/Q8_1 (references in
 * ggml_quants.c). Row-exact for every n. */
#define DECLARE_B32_Q8(T)                                                                                  \
    void matmul_##T##_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, \
                             int o1);                                                                      \
    void matmul_##T##_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out,    \
                                int o0, int o1);                                                           \
    void matmul_##T##_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, \
                              int o1);
DECLARE_B32_Q8(q4_0)
DECLARE_B32_Q8(q4_1)
DECLARE_B32_Q8(q5_0)
DECLARE_B32_Q8(q5_1)
/* For those kernels (q8_0_avx512.c, int8_avx2.c): the 32-weight block formats, their block bytes and where
 * their 16 code bytes start; ISA's matmul_T_q8_ISA for each, over the file's matmul_b32_q8(..., format, ...). */
enum b32_format { B32_Q8_0, B32_Q4_0, B32_Q4_1, B32_Q5_0, B32_Q5_1 };
static inline int b32_codes_at(enum b32_format f)
{
    return f == B32_Q4_1 ? 4 : f == B32_Q5_0 ? 6 : f == B32_Q5_1 ? 8 : 2;
}
static inline int b32_bytes(enum b32_format f) { return f == B32_Q8_0 ? 34 : b32_codes_at(f) + 16; }
#define DEFINE_B32_Q8_KERNELS(ISA)                                                                         \
    DEFINE_B32_Q8_KERNEL(q8_0, ISA, B32_Q8_0)                                                              \
    DEFINE_B32_Q8_KERNEL(q4_0, ISA, B32_Q4_0)                                                              \
    DEFINE_B32_Q8_KERNEL(q4_1, ISA, B32_Q4_1)                                                              \
    DEFINE_B32_Q8_KERNEL(q5_0, ISA, B32_Q5_0)                                                              \
    DEFINE_B32_Q8_KERNEL(q5_1, ISA, B32_Q5_1)
#define DEFINE_B32_Q8_KERNEL(T, ISA, F)                                                                    \
    void matmul_##T##_q8_##ISA(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, \
                               int o1)                                                                     \
    {                                                                                                      \
        matmul_b32_q8(y, x, w, F, n, d_in, d_out, o0, o1);                                                 \
    }
/* Q4_K, Q5_K and Q6_K weights against q8 activations (natural order), per 32-input sub-block: Q4_K/Q5_K y += (d_a d sc)
 * sum_j q_j a_j - (d_a dmin m) sum(a); Q6_K, per 16-input half, y += (d_a d sc) sum_j (q_j - 32) a_j; the integer
 * sums exact (ggml_quants.c, kquants_q8_avx512.c, int8_avx2.c; the AVX-512 Q6_K kernel's sums of q_j a_j exact,
 * the -32 offset's share added in fp32). Row-exact for every n. */
void matmul_q4_K_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q4_K_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1);
void matmul_q4_K_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q5_K_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q5_K_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1);
void matmul_q5_K_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q6_K_q8_ref(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q6_K_q8_avx512(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0,
                           int o1);
void matmul_q6_K_q8_avx2(float *y, const struct act_q8 *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
/* out[i] for i < n (a multiple of 32) of one MXFP4 row. */
void dequantize_row_mxfp4(float *out, const uint8_t *blocks, const uint8_t *scales, int n);

/* GGML Q8_0 (q8_0.c): w is (d_out, d_in/32) blocks of {f16 d; int8 q[32]}; weight = d * q. d_in must be a
 * multiple of 32. Same contract as matmul_fn. */
#define Q8_0_BLOCK_BYTES 34
void matmul_q8_0_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void matmul_q8_0_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
void dequantize_row_q8_0(float *out, const void *w, int n);
/* n (a multiple of 32) fp32 values to Q8_0 blocks as ggml's quantize_row_q8_0_ref does: d = max|x| / 127
 * stored as f16, q = round(x / d). */
void quantize_row_q8_0(void *out, const float *x, int n);

/* The other GGML block formats (ggml_quants.c): Q4_0 / Q4_1 / Q5_0 / Q5_1 (32 weights, 18 / 20 / 22 / 24
 * bytes a block) and Q4_K / Q5_K / Q6_K (256 weights, 144 / 176 / 210 bytes). dequantize_block_T writes one
 * block's weights; d_in must be a multiple of the block. Same contract as matmul_fn. */
#define DECLARE_BLOCK_KERNELS(T)                                                                        \
    void dequantize_block_##T(float *y, const uint8_t *block);                                        \
    void dequantize_row_##T(float *out, const void *w, int n);                                        \
    void matmul_##T##_ref(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1); \
    void matmul_##T##_avx512(float *y, const float *x, const void *w, int n, int d_in, int d_out, int o0, int o1);
DECLARE_BLOCK_KERNELS(q4_0)
DECLARE_BLOCK_KERNELS(q4_1)
DECLARE_BLOCK_KERNELS(q5_0)
DECLARE_BLOCK_KERNELS(q5_1)
DECLARE_BLOCK_KERNELS(q4_K)
DECLARE_BLOCK_KERNELS(q5_K)
DECLARE_BLOCK_KERNELS(q6_K)
/* The 6-bit scale and min of sub-block j (0..7) of a Q4_K/Q5_K super-block, packed in its 12 scale bytes q
 * (ggml's get_scale_min_k4): the reference dequantizers and the AVX-512 widening read them alike. */
static inline void scale_min_k4(int j, const uint8_t *q, int *sc, int *m)
{
    if (j < 4) {
        *sc = q[j] & 63;
        *m = q[j + 4] & 63;
    } else {
        *sc = (q[j + 4] & 0x0f) | ((q[j - 4] >> 6) << 4);
        *m = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
    }
}

/* n (a multiple of 32) fp32 values to Q4_0 blocks as ggml's quantize_row_q4_0_ref does: d = m / -8 for m the
 * value of largest magnitude, stored as f16; q = min(15, trunc(x / d + 8.5)). */
void quantize_row_q4_0(void *out, const float *x, int n);

/* out[i] = silu(gate[i]) * up[i] (Qwen3MLP's act_fn(gate_proj(x)) * up_proj(x)); out may alias gate. */
typedef void swiglu_fn(float *out, const float *gate, const float *up, size_t n);
void swiglu_f32_ref(float *out, const float *gate, const float *up, size_t n);
void swiglu_f32_avx512(float *out, const float *gate, const float *up, size_t n);
void swiglu_f32_avx2(float *out, const float *gate, const float *up, size_t n);

/* One row of GPT-OSS's clamped SwiGLU: g = min(gate[c * step], limit), u = clamp(up[c * step], -limit, limit),
 * out[c] = (u + 1) * g * sigmoid(alpha * g) for c < n (step 1, or 2 where gate and up interleave). */
typedef void swiglu_oai_fn(float *out, const float *gate, const float *up, int step, int n, float alpha, float limit);
void swiglu_oai_f32_ref(float *out, const float *gate, const float *up, int step, int n, float alpha, float limit);
void swiglu_oai_f32_avx512(float *out, const float *gate, const float *up, int step, int n, float alpha, float limit);

/* One row of RMSNorm: out = w * (x * rsqrt(mean(x^2) + eps)); out may alias x. */
typedef void rmsnorm_fn(float *out, const float *x, const float *w, int d, float eps);
void rmsnorm_f32_ref(float *out, const float *x, const float *w, int d, float eps);
void rmsnorm_f32_avx512(float *out, const float *x, const float *w, int d, float eps);
void rmsnorm_f32_avx2(float *out, const float *x, const float *w, int d, float eps);

/* RoPE on one token's n_head heads (head h at x + h * head_stride), its first d_rot dims: pairs (i, i + d_rot/2)
 * (rotate_half: Qwen3, GPT-OSS) or, interleaved, (2i, 2i + 1) (DeepSeek), each rotated by cos[i], sin[i]:
 * a' = a cos - b sin, b' = b cos + a sin. */
typedef void rope_fn(float *x, int n_head, int head_stride, int d_rot, const float *cos, const float *sin,
                     bool interleaved);
void rope_f32_ref(float *x, int n_head, int head_stride, int d_rot, const float *cos, const float *sin,
                  bool interleaved);
void rope_f32_avx512(float *x, int n_head, int head_stride, int d_rot, const float *cos, const float *sin,
                     bool interleaved);

/* Attention of one query head for n_rows consecutive query positions pos0 .. pos0+n_rows-1: row r sees
 * keys lo(r) .. pos0+r, lo(r) = max(0, pos0+r-window+1) when window > 0, else 0 (causal; GPT-OSS sliding
 * window); softmax(q.k * scale [, sink]) . v (eager_attention_forward, sinks joining the denominator). */
struct attn_rows {
    float *out;         /* row r at out + r*out_stride: d_v floats */
    const float *q;     /* row r at q + r*q_stride: d_k floats */
    const void *k;      /* key p at element p*k_stride of k: d_k values (fp32, or IEEE half with f16) */
    const void *v;      /* value p at element p*v_stride of v: d_v values (may alias k: MLA values prefix keys) */
    int f16;            /* k and v hold IEEE half values (an f16 KV cache), else fp32 */
    int out_stride, q_stride, k_stride, v_stride;
    int n_rows, pos0, window, d_k, d_v;
    int same_pos;       /* 0: row r is the query at position pos0 + r; 1: every row at pos0 (the heads of one
                           token that share a KV head, as rows) */
    float scale;
    float sink;         /* used when has_sink (and sinks is NULL) */
    const float *sinks; /* with has_sink, row r's sink: sinks[r] */
    int has_sink;
    int bf16;           /* products in bf16 (the --act modes' prefill): the scores from q and k rounded to bf16,
                           the output from the softmax weights and v rounded to bf16 (fp32 sums, fp32 softmax) */
    const struct attn_packed *packed; /* bf16 mode, optional: k and v already packed (attention_pack_bf16), so
                                         the query heads sharing a KV head do not each pack them; the same
                                         results bit for bit. Read by the AVX-512 block path only. */
};
typedef void attention_rows_fn(const struct attn_rows *a);

/* The keys and values of one KV head as the AVX-512 bf16 block path takes them, packed once for every query head
 * and block of query rows that reads them: keys base .. base + n_keys - 1 (base a multiple of 32), zeros past
 * them to a multiple of 32. data: first the key panels, 16 keys each (panel j: keys base + 16j.., (d_k + 1) / 2
 * pairs of dims x 16 keys, one 32-bit lane per key and pair), then the values in groups of 16 dims (group d at
 * data + v_at + d * v_group: pair i of keys base + 2i, base + 2i + 1 x 16 dims). attn_packed_len elements. */
struct attn_packed {
    uint32_t *data;
    int base, n_keys;
    size_t v_at, v_group;
};
static inline size_t attn_packed_len(int n_keys, int d_k, int d_v)
{
    const size_t keys = (size_t)(n_keys + 31) / 32 * 32;
    return keys * (size_t)((d_k + 1) / 2) + (size_t)((d_v + 15) / 16) * keys / 2 * 16;
}
static inline struct attn_packed attn_packed_at(uint32_t *data, int base, int n_keys, int d_k, int d_v)
{
    const size_t keys = (size_t)(n_keys + 31) / 32 * 32;
    return (struct attn_packed){.data = data, .base = base, .n_keys = n_keys, .v_at = keys * (size_t)((d_k + 1) / 2),
                                .v_group = keys / 2 * 16};
}
/* Groups of 32 keys [g0, g1) of p (keys base + 32 g0 ..) packed from a's k and v (f16, strides, d_k, d_v). The
 * block path packs a block's keys the same way when a->packed is NULL. */
void attention_pack_bf16_avx512(const struct attn_packed *p, const struct attn_rows *a, int g0, int g1);

/* Decode attention, one query token: n_heads consecutive query heads, head r reading KV head r / rep (GQA),
 * over the keys p0 <= p < p1, as an unnormalized partial softmax that the caller merges over the key chunks:
 * for head r, with s_p = (q_r . k_p) * scale, m[r] = max_p s_p, l[r] = sum_p exp(s_p - m[r]) and
 * o[r * d_v + i] = sum_p exp(s_p - m[r]) v_p[i]. Positions are taken in order and a position's keys and values
 * are read from memory once for all the heads: the cache is streamed (the row path reads each KV head's rows,
 * k_stride apart, once per query head; the SIMD variants work in register tiles over blocks of 16 keys,
 * attn_part_tiles.h). 1 <= p1 - p0 <= ATTN_PART_KEYS, 1 <= n_heads <= ATTN_PART_HEADS. */
#define ATTN_PART_KEYS 64
#define ATTN_PART_HEADS 64
struct attn_part {
    const float *q;     /* head r at q + r*d_k */
    const void *k;      /* position p, KV head g at element p*k_stride + g*d_k of k */
    const void *v;      /* position p, KV head g at element p*v_stride + g*d_v of v */
    int f16;            /* k and v hold IEEE half values, else fp32 */
    int k_stride, v_stride, p0, p1, n_heads, rep, d_k, d_v;
    float scale;
    float *m, *l, *o;   /* (n_heads), (n_heads), (n_heads, d_v) */
};
typedef void attention_part_fn(const struct attn_part *a);
void attention_part_ref(const struct attn_part *a);
void attention_part_avx512(const struct attn_part *a);
void attention_part_avx2(const struct attn_part *a);
void attention_rows_ref(const struct attn_rows *a);
void attention_rows_avx512(const struct attn_rows *a);
void attention_rows_avx2(const struct attn_rows *a); /* the row path only */

/* sum of n floats (a read-bandwidth probe: AVX-512 loads stream at the memory's speed, a scalar loop does
 * not). n must be a multiple of 64. */
typedef float sum_fn(const float *x, size_t n);
float sum_f32_ref(const float *x, size_t n);
float sum_f32_avx512(const float *x, size_t n);
float sum_f32_avx2(const float *x, size_t n);

/* sum_i a[i] * b[i] in fp32. */
typedef float dot_fn(const float *a, const float *b, int n);
float dot_f32_ref(const float *a, const float *b, int n);
float dot_f32_avx512(const float *a, const float *b, int n);

/* y[i] += a * x[i]. */
typedef void axpy_fn(float *y, float a, const float *x, int n);
void axpy_f32_ref(float *y, float a, const float *x, int n);
void axpy_f32_avx512(float *y, float a, const float *x, int n);

/* Element i of a KV-cache row set: fp32, or IEEE half with f16. */
static inline const void *kv_elem(const void *base, int f16, size_t i)
{
    return (const char *)base + i * (f16 ? 2 : 4);
}
/* q . k and o += a * v over KV-cache values of either type (the attention kernels' reference). */
float kv_dot_ref(const float *q, const void *k, int f16, int n);
void kv_axpy_ref(float *o, float a, const void *v, int f16, int n);

/* n fp32 values to an f16 KV cache: round to nearest even, finite values beyond the half range saturate to
 * +-65504 (not inf, which would turn every later score into NaN); inf and NaN stay what they are. */
typedef void f32_to_kv16_fn(uint16_t *out, const float *x, size_t n);
void f32_to_kv16_ref(uint16_t *out, const float *x, size_t n);
void f32_to_kv16_avx512(uint16_t *out, const float *x, size_t n);
void f32_to_kv16_avx2(uint16_t *out, const float *x, size_t n);

/* Row of a stored-dtype vector/matrix converted to f32: out[i] = w[i] for i < n. */
void dequantize_row_bf16(float *out, const void *w, int n);
void dequantize_row_f16(float *out, const void *w, int n);
void dequantize_row_f32(float *out, const void *w, int n);

/* The variants in use, filled by kernels_init from CPU features: AVX-512 (with AVX512-BF16 for the bf16
 * activation kernels), else AVX2 + FMA + F16C, else the references. OWL_KERNELS=ref|avx2|avx512 in the
 * environment forces one (avx2 and avx512 only where the CPU has them): for tests and debugging. */
struct kernel_table {
    const char *isa;          /* "avx512", "avx2" or "ref" */
    matmul_fn *matmul_f32;
    matmul_fn *matmul_bf16;
    matmul_fn *matmul_bf16_act; /* bf16-rounded activations (ops_set_act) */
    matmul_fn *matmul_q8_0_act; /* the same for Q8_0 weights (prefill) */
    /* the prefill GEMM of that mode for BF16 and Q8_0 weights, NULL without AVX512-BF16 */
    void (*pack_act_bf16)(uint16_t *xp, const float *x, int n, int d_in, int tile0, int tile1);
    void (*gemm_bf16_act)(float *y, const uint16_t *xp, const void *w, const float *scales, enum act_bf16_weights fmt,
                          int n, int d_in, int d_out, int o0, int o1, float *panel); /* scales: FP8's, else NULL */
    matmul_fn *matmul_f16;
    matmul_fn *matmul_q8_0;
    matmul_fn *matmul_q4_0, *matmul_q4_1, *matmul_q5_0, *matmul_q5_1, *matmul_q4_K, *matmul_q5_K, *matmul_q6_K;
    matmul_mxfp4_fn *matmul_mxfp4;
    matmul_fn *matmul_mxfp4g; /* GGML's MXFP4 blocks */
    matmul_mxfp4_q8_fn *matmul_mxfp4_q8; /* either MXFP4 layout against q8 activations (ops_set_act) */
    matmul_mxfp4_q8_fn *matmul_mxfp4s_q8; /* MXFP4 in slabs; NULL: weights keep their rows (mxfp4_to_slabs) */
    matmul_q8_0_q8_fn *matmul_q8_0_q8;   /* Q8_0 weights against q8 activations (ops_set_act) */
    void (*gemm_blocks_q8)(float *y, const struct act_q8 *x, const void *w, enum act_bf16_weights fmt, int n,
                           int d_in, int d_out, int o0, int o1, void *panel); /* Q8_0, Q4/Q5 _0/_1, Q4_K prefill, or NULL */
    matmul_q8_0_q8_fn *matmul_q4_0_q8;   /* Q4_0, Q4_1, Q5_0, Q5_1 weights against q8 activations */
    matmul_q8_0_q8_fn *matmul_q4_1_q8;
    matmul_q8_0_q8_fn *matmul_q5_0_q8;
    matmul_q8_0_q8_fn *matmul_q5_1_q8;
    matmul_q8_0_q8_fn *matmul_q4_K_q8;   /* Q4_K, Q5_K, Q6_K against q8 activations */
    matmul_q8_0_q8_fn *matmul_q5_K_q8;
    matmul_q8_0_q8_fn *matmul_q6_K_q8;
    matmul_fp8_fn *matmul_fp8;
    dequantize_fp8_fn *dequantize_fp8;
    attention_rows_fn *attention_rows;
    /* NULL without AVX512-BF16 */
    void (*attention_pack_bf16)(const struct attn_packed *p, const struct attn_rows *a, int g0, int g1);
    attention_part_fn *attention_part;
    f32_to_kv16_fn *f32_to_kv16;
    swiglu_fn *swiglu_f32;
    rmsnorm_fn *rmsnorm_f32;
    rope_fn *rope_f32;
    swiglu_oai_fn *swiglu_oai_f32;
    quantize_act_q8_fn *quantize_act_q8;
    sum_fn *sum_f32;
    dot_fn *dot_f32;
    axpy_fn *axpy_f32;
};
extern struct kernel_table kern;

/* Idempotent; thread-safe to call before any threads start. force_ref: use the references only. */
void kernels_init(int force_ref);
/* True if this CPU can run the avx512 variants. */
int kernels_have_avx512(void);
/* True if it also has AVX512-BF16 (matmul_bf16_act_avx512). */
int kernels_have_avx512_bf16(void);
/* True if it also has AVX512-VNNI (matmul_mxfp4_q8_avx512, matmul_q8_0_q8_avx512). */
int kernels_have_avx512_vnni(void);
/* True if it has AVX512-VNNI and AVX512-VBMI (matmul_mxfp4_q8_vbmi). */
int kernels_have_avx512_vbmi(void);
/* True if this CPU can run the avx2 variants (AVX2, FMA, F16C). */
int kernels_have_avx2(void);
/* Fill t with the variants of isa ("ref", "avx2", "avx512"); false (t untouched) if the CPU lacks it. */
int kernels_table(const char *isa, struct kernel_table *t);

#endif
