/* dispatch.c — picks the kernel variants once, by CPU feature, into the global table `kern`. */
#include <stdlib.h>
#include <string.h>

#include "kernels/kernels.h"

/* the reference variants: the table every other one starts from */
#define REF_TABLE {\
    .isa = "ref",\
    .matmul_f32 = matmul_f32_ref,\
    .matmul_bf16 = matmul_bf16_ref,\
    .matmul_f16 = matmul_f16_ref,\
    .matmul_q8_0 = matmul_q8_0_ref,\
    .matmul_q4_0 = matmul_q4_0_ref,\
    .matmul_q4_1 = matmul_q4_1_ref,\
    .matmul_q5_0 = matmul_q5_0_ref,\
    .matmul_q5_1 = matmul_q5_1_ref,\
    .matmul_q4_K = matmul_q4_K_ref,\
    .matmul_q5_K = matmul_q5_K_ref,\
    .matmul_q6_K = matmul_q6_K_ref,\
    .matmul_mxfp4 = matmul_mxfp4_ref,\
    .matmul_mxfp4g = matmul_mxfp4g_ref,\
    .matmul_mxfp4_q8 = matmul_mxfp4_q8_ref,\
    .f32_to_kv16 = f32_to_kv16_ref,\
    .matmul_q8_0_q8 = matmul_q8_0_q8_ref,\
    .matmul_q4_0_q8 = matmul_q4_0_q8_ref,\
    .matmul_q4_1_q8 = matmul_q4_1_q8_ref,\
    .matmul_q5_0_q8 = matmul_q5_0_q8_ref,\
    .matmul_q5_1_q8 = matmul_q5_1_q8_ref,\
    .matmul_q4_K_q8 = matmul_q4_K_q8_ref,\
    .matmul_q5_K_q8 = matmul_q5_K_q8_ref,\
    .matmul_q6_K_q8 = matmul_q6_K_q8_ref,\
    .matmul_bf16_act = matmul_bf16_act_ref,\
    .matmul_q8_0_act = matmul_q8_0_act_ref,\
    .matmul_fp8 = matmul_fp8_ref,\
    .dequantize_fp8 = dequantize_row_fp8,\
    .attention_rows = attention_rows_ref,\
    .attention_part = attention_part_ref,\
    .swiglu_f32 = swiglu_f32_ref,\
    .rmsnorm_f32 = rmsnorm_f32_ref,\
    .rope_f32 = rope_f32_ref,\
    .swiglu_oai_f32 = swiglu_oai_f32_ref,\
    .quantize_act_q8 = quantize_act_q8_ref,\
    .sum_f32 = sum_f32_ref,\
    .dot_f32 = dot_f32_ref,\
    .axpy_f32 = axpy_f32_ref,\
}

struct kernel_table kern = REF_TABLE;

int kernels_have_avx512(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    /* every AVX-512 CPU has FMA and F16C (and clang 14 does not know the "f16c" feature name) */
}

int kernels_have_avx512_bf16(void)
{
    __builtin_cpu_init();
    return kernels_have_avx512() && __builtin_cpu_supports("avx512bf16");
}

int kernels_have_avx512_vnni(void)
{
    __builtin_cpu_init();
    return kernels_have_avx512() && __builtin_cpu_supports("avx512vnni");
}

int kernels_have_avx512_vbmi(void)
{
    __builtin_cpu_init();
    return kernels_have_avx512_vnni() && __builtin_cpu_supports("avx512vbmi");
}

int kernels_have_avx2(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
}

static const struct kernel_table ref_table = REF_TABLE;

int kernels_table(const char *isa, struct kernel_table *t)
{
    if (!strcmp(isa, "ref")) {
        *t = ref_table;
        return 1;
    }
    if (!strcmp(isa, "avx2")) {
        if (!kernels_have_avx2())
            return 0;
        *t = ref_table;
        t->isa = "avx2";
        t->matmul_bf16_act = t->matmul_q8_0_act = NULL; /* no bf16 dot products: see op_matmul */
        t->matmul_f32 = matmul_f32_avx2;
        t->matmul_bf16 = matmul_bf16_avx2;
        t->matmul_f16 = matmul_f16_avx2;
        t->matmul_q8_0 = matmul_q8_0_avx2;
        t->matmul_q4_0 = matmul_q4_0_avx2;
        t->matmul_q4_1 = matmul_q4_1_avx2;
        t->matmul_q5_0 = matmul_q5_0_avx2;
        t->matmul_q5_1 = matmul_q5_1_avx2;
        t->matmul_q4_K = matmul_q4_K_avx2;
        t->matmul_q5_K = matmul_q5_K_avx2;
        t->matmul_q6_K = matmul_q6_K_avx2;
        t->matmul_mxfp4 = matmul_mxfp4_avx2;
        t->matmul_mxfp4g = matmul_mxfp4g_avx2;
        t->matmul_fp8 = matmul_fp8_avx2;
        t->matmul_q8_0_q8 = matmul_q8_0_q8_avx2;
        t->f32_to_kv16 = f32_to_kv16_avx2;
        t->matmul_q4_0_q8 = matmul_q4_0_q8_avx2;
        t->matmul_q4_1_q8 = matmul_q4_1_q8_avx2;
        t->matmul_q5_0_q8 = matmul_q5_0_q8_avx2;
        t->matmul_q5_1_q8 = matmul_q5_1_q8_avx2;
        t->matmul_mxfp4_q8 = matmul_mxfp4_q8_avx2;
        t->matmul_mxfp4s_q8 = matmul_mxfp4s_q8_avx2;
        t->matmul_q4_K_q8 = matmul_q4_K_q8_avx2;
        t->matmul_q5_K_q8 = matmul_q5_K_q8_avx2;
        t->matmul_q6_K_q8 = matmul_q6_K_q8_avx2;
        t->sum_f32 = sum_f32_avx2;
        t->dot_f32 = dot_f32_avx2;
        t->axpy_f32 = axpy_f32_avx2;
        t->attention_rows = attention_rows_avx2;
        t->attention_part = attention_part_avx2;
        t->swiglu_f32 = swiglu_f32_avx2;
        t->rmsnorm_f32 = rmsnorm_f32_avx2;
        return 1;
    }
    if (strcmp(isa, "avx512") || !kernels_have_avx512())
        return 0;
    *t = ref_table;
    t->isa = "avx512";
    t->matmul_f32 = matmul_f32_avx512;
    t->matmul_bf16 = matmul_bf16_avx512;
    t->matmul_f16 = matmul_f16_avx512;
    t->matmul_q8_0 = matmul_q8_0_avx512;
    t->matmul_q4_0 = matmul_q4_0_avx512;
    t->matmul_q4_1 = matmul_q4_1_avx512;
    t->matmul_q5_0 = matmul_q5_0_avx512;
    t->matmul_q5_1 = matmul_q5_1_avx512;
    t->matmul_q4_K = matmul_q4_K_avx512;
    t->matmul_q5_K = matmul_q5_K_avx512;
    t->matmul_q6_K = matmul_q6_K_avx512;
    t->matmul_mxfp4 = matmul_mxfp4_avx512;
    t->matmul_mxfp4g = matmul_mxfp4g_avx512;
    t->matmul_bf16_act = t->matmul_q8_0_act = NULL; /* without AVX512-BF16: see op_matmul */
    if (kernels_have_avx512_bf16()) {
        t->matmul_bf16_act = matmul_bf16_act_avx512;
        t->pack_act_bf16 = pack_act_bf16_avx512;
        t->gemm_bf16_act = gemm_bf16_act_avx512;
        t->attention_pack_bf16 = attention_pack_bf16_avx512;
    }
    /* without VNNI: the AVX2 int8 kernels (every AVX-512 CPU has AVX2) */
    t->matmul_mxfp4_q8 = matmul_mxfp4_q8_avx2;
    t->matmul_mxfp4s_q8 = matmul_mxfp4s_q8_avx2;
    t->matmul_q8_0_q8 = matmul_q8_0_q8_avx2;
    t->matmul_q4_0_q8 = matmul_q4_0_q8_avx2;
    t->matmul_q4_1_q8 = matmul_q4_1_q8_avx2;
    t->matmul_q5_0_q8 = matmul_q5_0_q8_avx2;
    t->matmul_q5_1_q8 = matmul_q5_1_q8_avx2;
    t->matmul_q4_K_q8 = matmul_q4_K_q8_avx2;
    t->matmul_q5_K_q8 = matmul_q5_K_q8_avx2;
    t->matmul_q6_K_q8 = matmul_q6_K_q8_avx2;
    if (kernels_have_avx512_vnni()) {
        t->matmul_mxfp4_q8 = kernels_have_avx512_vbmi() ? matmul_mxfp4_q8_vbmi : matmul_mxfp4_q8_avx512;
        t->matmul_mxfp4s_q8 = kernels_have_avx512_vbmi() ? matmul_mxfp4s_q8_vbmi : NULL;
        t->matmul_q8_0_q8 = matmul_q8_0_q8_avx512;
        t->gemm_blocks_q8 = gemm_blocks_q8_avx512;
        t->matmul_q4_0_q8 = matmul_q4_0_q8_avx512;
        t->matmul_q4_1_q8 = matmul_q4_1_q8_avx512;
        t->matmul_q5_0_q8 = matmul_q5_0_q8_avx512;
        t->matmul_q5_1_q8 = matmul_q5_1_q8_avx512;
        t->matmul_q4_K_q8 = matmul_q4_K_q8_avx512;
        t->matmul_q5_K_q8 = matmul_q5_K_q8_avx512;
        t->matmul_q6_K_q8 = matmul_q6_K_q8_avx512;
    }
    t->matmul_fp8 = kernels_have_avx512_vbmi() ? matmul_fp8_vbmi : matmul_fp8_avx512;
    t->dequantize_fp8 = dequantize_row_fp8_avx512;
    t->attention_rows = attention_rows_avx512;
    t->attention_part = attention_part_avx512;
    t->f32_to_kv16 = f32_to_kv16_avx512;
    t->swiglu_f32 = swiglu_f32_avx512;
    t->rmsnorm_f32 = rmsnorm_f32_avx512;
    t->rope_f32 = rope_f32_avx512;
    t->swiglu_oai_f32 = swiglu_oai_f32_avx512;
    t->quantize_act_q8 = quantize_act_q8_avx512;
    t->sum_f32 = sum_f32_avx512;
    t->dot_f32 = dot_f32_avx512;
    t->axpy_f32 = axpy_f32_avx512;
    return 1;
}

void kernels_init(int force_ref)
{
    const char *env = getenv("OWL_KERNELS");
    if (force_ref || (env && !strcmp(env, "ref"))) {
        kernels_table("ref", &kern);
        return;
    }
    if (env && kernels_table(env, &kern)) /* a forced ISA the CPU has */
        return;
    if (!kernels_table("avx512", &kern) && !kernels_table("avx2", &kern))
        kernels_table("ref", &kern);
}
