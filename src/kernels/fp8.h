/* fp8.h — FP8 E4M3 weights with 128x128 block scales (DeepSeek-V3's released format; also Qwen3-FP8).
 *
 * A weight (d_out, d_in) is one byte per value, e4m3fn (sign, 4 exponent bits with bias 7, 3 mantissa
 * bits; no infinities; S.1111.111 is NaN; max 448), plus float32 scales (ceil(d_out/128), ceil(d_in/128))
 * (`weight_scale_inv` on disk: multiplied, not divided; edge blocks are partial). The value used is the
 * fp32 product e4m3(w[o][k]) * scales[o/128][k/128], rounded once — what DeepSeek's weight_dequant and an
 * fp32 dequantized copy compute. Kernels dequantize in registers; weights stay one byte in memory.
 * Variants: *_ref (the math) and *_avx512, chosen once by kernels_init into kern.matmul_fp8 (kernels.h).
 */
#ifndef OWL_FP8_H
#define OWL_FP8_H

#include <stddef.h>
#include <stdint.h>

#define FP8_BLOCK 128 /* quantization_config.weight_block_size, both dimensions */

/* Each magnitude's value (byte & 0x7f) as bf16, its low and high bytes (exact: 3 mantissa bits; 0x7f NaN):
 * the AVX512-VBMI kernel's tables, made at start-up from fp8_e4m3_to_f32 (fp8.c). */
extern uint8_t fp8_bf16_lo[128], fp8_bf16_hi[128];

/* Exact value of an e4m3fn byte: subnormals (exponent 0: m/8 * 2^-6), NaN for 0x7f and 0xff. */
float fp8_e4m3_to_f32(uint8_t b);

/* y[t, o] = sum_k x[t, k] * (e4m3(w[o, k]) * scales[o/128, k/128]) for t < n, o in [o0, o1).
 * y: (n, d_out) row stride d_out; x: (n, d_in); w: (d_out, d_in) bytes; scales: (ceil(d_out/128),
 * ceil(d_in/128)) fp32. Same threading contract as matmul_fn (disjoint row ranges). */
typedef void matmul_fp8_fn(float *y, const float *x, const void *w, const float *scales, int n, int d_in,
                           int d_out, int o0, int o1);
void matmul_fp8_ref(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                    int o0, int o1);
void matmul_fp8_avx512(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                       int o0, int o1);
/* The same with AVX512-VBMI (its decode widens 64 bytes through byte tables; kernels_have_avx512_vbmi). */
void matmul_fp8_vbmi(float *y, const float *x, const void *w, const float *scales, int n, int d_in, int d_out,
                     int o0, int o1);

/* out[k] = e4m3(w_row[k]) * scales_row[k/128] for k < n: one row of the matrix, where w_row points at the
 * row's first byte and scales_row at its block row of the scale grid. The AVX-512 variant gives the same
 * values (kern.dequantize_fp8: MLA's absorbed decode dequantizes 8.4M of kv_b_proj's values a layer and token). */
typedef void dequantize_fp8_fn(float *out, const uint8_t *w_row, const float *scales_row, int n);
void dequantize_row_fp8(float *out, const uint8_t *w_row, const float *scales_row, int n);
void dequantize_row_fp8_avx512(float *out, const uint8_t *w_row, const float *scales_row, int n);

#endif
