/* base.c — implementation of base.h: error formatting, asserts, allocation, logging, clock. */
#include "base.h"

#include <stdarg.h>
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

void *big_alloc(size_t size)
{
    /* Buffers of 2 MiB or more are 2 MiB-aligned and asked for transparent huge pages (on machines where THP
     * is "madvise"), so the KV cache, scratch slabs and requantized weights take few TLB entries. */
    const size_t huge = (size_t)2 << 20, align = size >= huge ? huge : 64;
    size_t rounded = (size + align - 1) & ~(align - 1);
    if (rounded < size)
        return NULL;
    void *p = aligned_alloc(align, rounded ? rounded : align);
    if (p && align == huge)
        madvise(p, rounded, MADV_HUGEPAGE);
    if (p)
        memset(p, 0, rounded);
    return p;
}

void big_free(void *p) { free(p); }

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
