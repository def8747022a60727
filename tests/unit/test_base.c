/* test_base.c — big_alloc: small (aligned_alloc) and large (anonymous mapping) buffers come zeroed, aligned
 * (64 bytes; 2 MiB from 2 MiB up), writable to their last byte and freed by big_free (NULL too); sizes whose
 * rounding or mapping length would overflow are refused with NULL instead of a short buffer. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/base.h"
#include "test_util.h"

static void check_buffer(size_t size, size_t align)
{
    unsigned char *p = big_alloc(size);
    CHECK_MSG(p != NULL, "big_alloc(%zu) failed", size);
    if (!p)
        return;
    CHECK_MSG((uintptr_t)p % align == 0, "big_alloc(%zu) = %p is not %zu-aligned", size, (void *)p, align);
    size_t nonzero = 0;
    for (size_t i = 0; i < size; i += 4093) /* spot checks across every page */
        nonzero += p[i] != 0;
    if (size)
        nonzero += p[size - 1] != 0;
    CHECK_MSG(nonzero == 0, "big_alloc(%zu): %zu bytes not zero", size, nonzero);
    if (size) {
        memset(p, 0xab, size);
        CHECK(p[0] == 0xab && p[size - 1] == 0xab);
    }
    big_free(p);
}

int main(void)
{
    check_buffer(0, 64);
    check_buffer(1, 64);
    check_buffer(4096, 64);
    check_buffer(((size_t)2 << 20) - 1, 64);
    check_buffer((size_t)2 << 20, (size_t)2 << 20);
    check_buffer(((size_t)2 << 20) + 1, (size_t)2 << 20);
    check_buffer((size_t)37 << 20, (size_t)2 << 20);
    for (int i = 0; i < 3; i++) { /* reuse after free gives zeroed memory again */
        check_buffer((size_t)8 << 20, (size_t)2 << 20);
        check_buffer(100000, 64);
    }
    CHECK(big_alloc(SIZE_MAX) == NULL);
    CHECK(big_alloc(SIZE_MAX - ((size_t)3 << 20)) == NULL);
    big_free(NULL);
    return test_done("test_base");
}
