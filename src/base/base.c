/* base.c — implementation of base.h: error formatting, asserts, allocation, logging, clock. */
#include "base.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

enum owl_status fail(struct owl_error *err, enum owl_status status, const char *fmt, ...)
{
    if (err) {
        err->status = status;
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->message, sizeof err->message, fmt, ap);
        va_end(ap);
    }
    return status;
}

enum owl_status fail_prefix(struct owl_error *err, const char *prefix)
{
    if (!err)
        return OWL_ERR_INVALID_ARG;
    char tmp[sizeof err->message];
    int n = snprintf(tmp, sizeof tmp, "%s: ", prefix);
    if (n > 0 && (size_t)n < sizeof tmp) {
        size_t room = sizeof tmp - (size_t)n - 1, len = strnlen(err->message, room);
        memcpy(tmp + n, err->message, len);
        tmp[(size_t)n + len] = 0;
    }
    memcpy(err->message, tmp, sizeof tmp);
    return err->status;
}

const char *owl_status_name(enum owl_status status)
{
    switch (status) {
    case OWL_OK: return "OWL_OK";
    case OWL_ERR_INVALID_ARG: return "OWL_ERR_INVALID_ARG";
    case OWL_ERR_IO: return "OWL_ERR_IO";
    case OWL_ERR_BAD_FILE: return "OWL_ERR_BAD_FILE";
    case OWL_ERR_BAD_CONFIG: return "OWL_ERR_BAD_CONFIG";
    case OWL_ERR_UNSUPPORTED: return "OWL_ERR_UNSUPPORTED";
    case OWL_ERR_OUT_OF_MEMORY: return "OWL_ERR_OUT_OF_MEMORY";
    case OWL_ERR_CONTEXT_FULL: return "OWL_ERR_CONTEXT_FULL";
    }
    return "OWL_ERR_?";
}

void owl_assert_fail(const char *expr, const char *file, int line)
{
    fprintf(stderr, "owl: assertion failed: %s (%s:%d)\n", expr, file, line);
    abort();
}

static void *oom(size_t size)
{
    fprintf(stderr, "owl: out of memory allocating %zu bytes\n", size);
    abort();
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    return p ? p : oom(n * size);
}

void *xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    return q ? q : oom(size);
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xcalloc(n, 1), s, n);
}

/* Every big_alloc buffer has a 64-byte header before it: how it was obtained, and the mapping's length. */
struct big_header {
    uint64_t magic, mapped; /* mapped: the length of the anonymous mapping (0: from aligned_alloc) */
    char pad[48];
};
#define BIG_MAGIC 0x6f776c2d62696721ull
#define BIG_PAGE ((size_t)4096)

void *big_alloc(size_t size)
{
    /* Buffers of 2 MiB or more are anonymous mappings, 2 MiB-aligned and asked for transparent huge pages (on
     * machines where THP is "madvise"), so the KV cache, scratch slabs and requantized weights take few TLB
     * entries: the kernel hands out zeroed pages on first touch, so a cache sized for a long context costs
     * memory only as far as it is used (a server's slots no longer zero gigabytes at start). A page before the
     * buffer holds its header. Smaller ones come from aligned_alloc and are zeroed here. */
    const size_t rounded = (size + BIG_HUGE - 1) & ~(BIG_HUGE - 1);
    if (rounded < size || rounded > SIZE_MAX - BIG_PAGE - BIG_HUGE)
        return NULL;
    if (size < BIG_HUGE) {
        struct big_header *h = aligned_alloc(64, sizeof *h + ((size + 63) & ~(size_t)63));
        if (!h)
            return NULL;
        memset(h, 0, sizeof *h + ((size + 63) & ~(size_t)63));
        h->magic = BIG_MAGIC;
        return h + 1;
    }
    const size_t len = BIG_PAGE + rounded + BIG_HUGE; /* room to align the buffer, its header page before it */
    char *raw = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (raw == MAP_FAILED)
        return NULL;
    char *p = (char *)(((uintptr_t)raw + BIG_PAGE + BIG_HUGE - 1) & ~(uintptr_t)(BIG_HUGE - 1));
    char *start = p - BIG_PAGE, *end = p + rounded;
    if (start > raw)
        munmap(raw, (size_t)(start - raw));
    if (raw + len > end)
        munmap(end, (size_t)(raw + len - end));
    madvise(p, rounded, MADV_HUGEPAGE);
    struct big_header *h = (struct big_header *)p - 1;
    h->magic = BIG_MAGIC;
    h->mapped = (uint64_t)(BIG_PAGE + rounded);
    return p;
}

void big_free(void *p)
{
    if (!p)
        return;
    struct big_header *h = (struct big_header *)p - 1;
    OWL_ASSERT(h->magic == BIG_MAGIC);
    if (h->mapped)
        munmap((char *)p - BIG_PAGE, (size_t)h->mapped);
    else
        free(h);
}

static enum log_level g_log_level = LOG_WARN;

void log_set_level(enum log_level level) { g_log_level = level; }

void log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > g_log_level)
        return;
    static const char *names[] = {"error", "warning", "info", "debug"};
    fprintf(stderr, "owl: %s: ", names[level]);
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

double time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

size_t mem_available_bytes(void)
{
    FILE *f = fopen("/proc/meminfo", "r");
    if (!f)
        return 0;
    char line[256];
    unsigned long long kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "MemAvailable: %llu kB", &kb) == 1)
            break;
    fclose(f);
    return (size_t)kb * 1024;
}
