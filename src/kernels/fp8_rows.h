/* fp8_rows.h — the FP8 decode rows of fp8_avx512.c, included there once per widening (internal; see that file):
 * FP8_FN(name) names this copy's functions; with FP8_WIDEN64(p, s, w) defined (a 64-byte step of one row, s the
 * row's block scale as a float, into w[0..3] = inputs 0-15, 16-31, 32-47, 48-63, scaled) the rows go 64 inputs a
 * step where they can, else 32 (e4m3x32). Both give the same numbers: the 64-input step is two 32-input steps.
 * FP8_GROUPS is GROUP_BY_WIDTH or GROUP_BY_WIDTH_HALF (gemm_avx512.h): rows per pass where wide. */

/* R rows from wr (row stride d_in, scale rows s[r]) against NT tokens, each row once: per row and token two
 * chains (inputs k..k+15 and k+16..k+31 of each 32-input step; a tail of up to 31 all into the first), summed
 * at the end. A row's and token's operations are the same whatever R and NT are (row-exact). */
static inline __attribute__((always_inline)) void FP8_FN(rows)(float *y, const float *x, const uint8_t *wr,
                                                               const float *const *s, int d_in, int d_out, int R,
                                                               int NT)
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
        int k = k0;
#ifdef FP8_WIDEN64
        for (; k + 64 <= full; k += 64)
#pragma GCC unroll 8
            for (int r = 0; r < R; r++) {
                __m512 w[4];
                FP8_WIDEN64(wr + (size_t)r * d_in + k, s[r][k0 / FP8_BLOCK], w);
#pragma GCC unroll 4
                for (int j = 0; j < NT; j++)
#pragma GCC unroll 4
                    for (int q = 0; q < 4; q++)
                        a[r * NT + j][q % 2] =
                            _mm512_fmadd_ps(w[q], _mm512_loadu_ps(x + (size_t)j * d_in + k + 16 * q), a[r * NT + j][q % 2]);
            }
#endif
        for (; k < full; k += 32)
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
static inline __attribute__((always_inline)) void FP8_FN(row_group)(float *y, const float *x, const uint8_t *wb,
                                                            const float *scales, int d_in, int d_out, int o0, int o1,
                                                            int R, int NT)
{
    const int n_cb = (d_in + FP8_BLOCK - 1) / FP8_BLOCK;
    for (int o = o0; o < o1;) {
        const int nr = o + R <= o1 ? R : 1;
        const float *s[8];
        for (int r = 0; r < nr; r++)
            s[r] = scales + (size_t)((o + r) / FP8_BLOCK) * n_cb;
        if (nr == R)
            FP8_FN(rows)(y + o, x, wb + (size_t)o * d_in, s, d_in, d_out, R, NT);
        else
            FP8_FN(rows)(y + o, x, wb + (size_t)o * d_in, s, d_in, d_out, 1, NT);
        o += nr;
    }
}

/* Decode: tokens in groups of up to 4, each group's rows 8 / NT at a time where its activations pass
 * KERN_ROWS_X_BYTES. */
static void FP8_FN(decode)(float *y, const float *x, const uint8_t *wb, const float *scales, int n, int d_in,
                           int d_out, int o0, int o1)
{
    for (int t = 0; t < n; t += 4) {
        const int nt = n - t < 4 ? n - t : 4;
        const bool wide = (size_t)nt * d_in * sizeof(float) > KERN_ROWS_X_BYTES;
        float *yt = y + (size_t)t * d_out;
        const float *xt = x + (size_t)t * d_in;
#define GROUP(R, NT) FP8_FN(row_group)(yt, xt, wb, scales, d_in, d_out, o0, o1, R, NT)
        FP8_GROUPS(nt, wide, GROUP)
#undef GROUP
    }
}
