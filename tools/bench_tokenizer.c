/* bench_tokenizer.c — encoding throughput of owl's tokenizer on one text file, one thread.
 *
 *   bench_tokenizer MODEL_DIR TEXT_FILE [REPEATS]
 * Encodes the whole file in one tokenizer_encode call (as the HF benchmark in gen_tokenizer_goldens.py
 * does with Tokenizer.encode), REPEATS times (default 3), and prints the best MB/s and the token count.
 * The first run fills the piece cache; the best of the rest is the warm figure, the first the cold one.
 */
#include <stdio.h>
#include <stdlib.h>

#include "base/file_map.h"
#include "tokenizer/tokenizer.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL_DIR TEXT_FILE [REPEATS]\n", argv[0]);
        return 2;
    }
    int repeats = argc > 3 ? atoi(argv[3]) : 3;
    struct owl_error err = {0};
    struct tokenizer *tok;
    double t0 = time_now();
    if (tokenizer_open(&tok, argv[1], &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double t_load = time_now() - t0;
    char *text;
    size_t len;
    if (file_read_all(argv[2], &text, &len, &err)) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    double best = 1e30, first = 0;
    size_t n_tokens = 0;
    uint64_t hash = 0;
    for (int r = 0; r < repeats; r++) {
        struct token_buf ids = {0};
        double t = time_now();
        if (tokenizer_encode(tok, text, len, false, &ids, &err)) {
            fprintf(stderr, "%s\n", err.message);
            return 1;
        }
        t = time_now() - t;
        if (r == 0)
            first = t;
        if (t < best)
            best = t;
        n_tokens = ids.n;
        hash = 0xcbf29ce484222325ull; /* FNV-1a 64 over little-endian int32 ids, as the HF benchmark prints */
        for (size_t i = 0; i < ids.n; i++)
            for (int k = 0; k < 4; k++)
                hash = (hash ^ (((uint32_t)ids.ids[i] >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
        token_buf_free(&ids);
    }
    printf("owl %s: %.2f MB/s warm, %.2f MB/s first run (%zu tokens, %zu bytes, best of %d, ids fnv1a64 %016llx; "
           "load %.2fs)\n", argv[1], (double)len / best / 1e6, (double)len / first / 1e6, n_tokens, len, repeats,
           (unsigned long long)hash, t_load);
    free(text);
    tokenizer_free(tok);
    return 0;
}
