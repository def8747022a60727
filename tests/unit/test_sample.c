/* test_sample.c — the samplers: sampler_pick (sorting only the likeliest tokens the filters need) makes the same
 * picks as sampler_pick_ref (every token sorted) for the same seed, over flat, peaked and tied distributions and
 * every filter; and the picks follow the distribution the filters define (frequencies against the exact
 * probabilities of a small vocabulary, dropped tokens never drawn); argmax_f32 takes the lowest index among equals. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sample/sample.h"
#include "test_util.h"

static uint64_t g_rng = 88172645463325252ull;
static double uniform(void)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

enum shape { FLAT, PEAKED, TIED, SPREAD };

static void fill(float *l, int n, enum shape shape)
{
    for (int i = 0; i < n; i++) {
        const double u = uniform();
        l[i] = shape == FLAT     ? (float)(0.01 * u)
             : shape == PEAKED   ? (float)(-30.0 * u + (i % 97 == 5 ? 25.0 : 0.0))
             : shape == TIED     ? (float)(i % 7 == 0 ? 3.0 : (int)(u * 4))
                                 : (float)(-12.0 * u * u);
    }
}

/* The same seed, the same picks, draw after draw. */
static void check_same(int n, enum shape shape, struct sampler_params p)
{
    float *l = malloc((size_t)n * sizeof *l);
    struct sampler a, b;
    struct owl_error err = {0};
    CHECK_OK(sampler_init(&a, &p, n, &err), &err);
    CHECK_OK(sampler_init(&b, &p, n, &err), &err);
    int differ = 0, first = -1;
    const int draws = n > 100000 ? 4 : 12;
    for (int d = 0; d < draws; d++) {
        fill(l, n, shape);
        const int32_t x = sampler_pick(&a, l), y = sampler_pick_ref(&b, l);
        CHECK_MSG(x >= 0 && x < n, "pick %d out of [0, %d)", x, n);
        if (x != y && first < 0)
            first = d;
        differ += x != y;
    }
    CHECK_MSG(differ == 0,
              "n %d shape %d T %g top-k %d top-p %g min-p %g: %d of %d picks differ from the reference (first: draw %d)",
              n, shape, p.temperature, p.top_k, p.top_p, p.min_p, differ, draws, first);
    sampler_free(&a);
    sampler_free(&b);
    free(l);
}

/* Frequencies over many draws against exact probabilities q (zeros never drawn). */
static void check_freq(const float *l, int n, struct sampler_params p, const double *q, const char *what)
{
    struct sampler s;
    struct owl_error err = {0};
    CHECK_OK(sampler_init(&s, &p, n, &err), &err);
    enum { DRAWS = 200000 };
    int count[16] = {0};
    for (int d = 0; d < DRAWS; d++) {
        const int32_t t = sampler_pick(&s, l);
        if (t >= 0 && t < n)
            count[t]++;
    }
    for (int i = 0; i < n; i++) {
        const double f = (double)count[i] / DRAWS, sd = sqrt(q[i] * (1 - q[i]) / DRAWS);
        if (q[i] == 0)
            CHECK_MSG(count[i] == 0, "%s: token %d drawn %d times, expected never", what, i, count[i]);
        else
            CHECK_MSG(fabs(f - q[i]) <= 5 * sd + 1e-9, "%s: token %d frequency %.4f, expected %.4f", what, i, f, q[i]);
    }
    sampler_free(&s);
}

static void check_distribution(void)
{
    /* probabilities 0.1, 0.2, 0.3, 0.4 at T = 1; token 4 impossible (-inf) */
    const float l[5] = {logf(1), logf(2), logf(3), logf(4), -INFINITY};
    const struct sampler_params base = {.temperature = 1.0f, .seed = 3};
    check_freq(l, 5, base, (const double[]){0.1, 0.2, 0.3, 0.4, 0}, "T 1");
    struct sampler_params p = base;
    p.temperature = 0.5f; /* squares: 1, 4, 9, 16 of 30 */
    check_freq(l, 5, p, (const double[]){1 / 30.0, 4 / 30.0, 9 / 30.0, 16 / 30.0, 0}, "T 0.5");
    p = base;
    p.top_k = 2; /* 3 : 4 */
    check_freq(l, 5, p, (const double[]){0, 0, 3 / 7.0, 4 / 7.0, 0}, "top-k 2");
    p = base;
    p.top_p = 0.65f; /* 0.4, then 0.7 >= 0.65: tokens 3 and 2 */
    check_freq(l, 5, p, (const double[]){0, 0, 3 / 7.0, 4 / 7.0, 0}, "top-p 0.65");
    p = base;
    p.top_p = 0.75f; /* 0.4, 0.7, 0.9: tokens 3, 2 and 1 */
    check_freq(l, 5, p, (const double[]){0, 2 / 9.0, 3 / 9.0, 4 / 9.0, 0}, "top-p 0.75");
    p = base;
    p.min_p = 0.5f; /* at least 0.5 x 0.4: tokens 1, 2, 3 */
    check_freq(l, 5, p, (const double[]){0, 2 / 9.0, 3 / 9.0, 4 / 9.0, 0}, "min-p 0.5");
    p = base;
    p.top_k = 3;
    p.min_p = 0.6f; /* top-3 then at least 0.24: tokens 2, 3 */
    check_freq(l, 5, p, (const double[]){0, 0, 3 / 7.0, 4 / 7.0, 0}, "top-k 3, min-p 0.6");
    p = base;
    p.temperature = 0;
    check_freq(l, 5, p, (const double[]){0, 0, 0, 1, 0}, "greedy");
    p = base;
    p.temperature = 1e-40f; /* a subnormal temperature: the top token only, no 0 * inf */
    check_freq(l, 5, p, (const double[]){0, 0, 0, 1, 0}, "T 1e-40");
}

static void check_argmax(void)
{
    const float a[] = {1, 5, 2, 5, -3};
    CHECK(argmax_f32(a, 5) == 1);
    const float b[] = {-INFINITY, -INFINITY};
    CHECK(argmax_f32(b, 2) == 0);
    const float c[] = {NAN, 2, 7, 7};
    CHECK(argmax_f32(c, 4) == 2);
    const float d[] = {NAN, NAN};
    CHECK(argmax_f32(d, 2) == 0);
    enum { N = 100003 };
    float *x = malloc(N * sizeof *x);
    for (int i = 0; i < N; i++)
        x[i] = (float)(int)(uniform() * 1000);
    x[77777] = 2000;
    x[90000] = 2000;
    CHECK(argmax_f32(x, N) == 77777);
    free(x);
}

int main(void)
{
    check_argmax();
    check_distribution();
    const int sizes[] = {1, 2, 7, 300, 20000, 151936};
    const enum shape shapes[] = {FLAT, PEAKED, TIED, SPREAD};
    const float temps[] = {0.7f, 1.3f, 0.01f}; /* 0.01: most probabilities underflow to 0 */
    const int ks[] = {0, 1, 40, 400};
    const float tops[] = {1.0f, 0.9f, 0.3f};
    const float mins[] = {0.0f, 0.05f, 0.9f};
    for (size_t a = 0; a < sizeof sizes / sizeof *sizes; a++)
        for (size_t b = 0; b < sizeof shapes / sizeof *shapes; b++)
            for (size_t c = 0; c < sizeof temps / sizeof *temps; c++)
                for (size_t d = 0; d < sizeof ks / sizeof *ks; d++)
                    for (size_t e = 0; e < sizeof tops / sizeof *tops; e++)
                        for (size_t f = 0; f < sizeof mins / sizeof *mins; f++) {
                            /* the reference sorts every token: a third of the grid at 20000, a few at 151936 */
                            if ((sizes[a] > 1000 && (c + d + e + f) % 3 != 0) ||
                                (sizes[a] > 100000 && (b + c + d + e + f) % 9 != 0))
                                continue;
                            check_same(sizes[a], shapes[b],
                                       (struct sampler_params){.temperature = temps[c], .top_k = ks[d],
                                                               .top_p = tops[e], .min_p = mins[f], .seed = 11 + a});
                        }
    return test_done("test_sample");
}
