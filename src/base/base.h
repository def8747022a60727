/* base.h — status helpers, always-on asserts, checked size arithmetic, allocation and logging.
 *
 * Everything above depends on this; it depends on nothing but libc. Failures on untrusted input are
 * reported with fail() (a status and a formatted message); broken invariants abort with OWL_ASSERT.
 */
#ifndef OWL_BASE_H
#define OWL_BASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "owl.h"

#if defined(__GNUC__)
#define OWL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define OWL_PRINTF(a, b)
#endif

/* Fill err (may be NULL) and return status. Use as `return fail(err, OWL_ERR_BAD_FILE, "...", ...)`. */
enum owl_status fail(struct owl_error *err, enum owl_status status, const char *fmt, ...) OWL_PRINTF(3, 4);

/* Prefix err->message with "prefix: " (e.g. the file name) keeping the status; returns err->status. */
enum owl_status fail_prefix(struct owl_error *err, const char *prefix);

void owl_assert_fail(const char *expr, const char *file, int line) __attribute__((noreturn));
#define OWL_ASSERT(x) ((x) ? (void)0 : owl_assert_fail(#x, __FILE__, __LINE__))

/* Checked arithmetic on sizes that come from files: return false on overflow. */
static inline bool size_mul(size_t a, size_t b, size_t *out) { return !__builtin_mul_overflow(a, b, out); }
static inline bool size_add(size_t a, size_t b, size_t *out) { return !__builtin_add_overflow(a, b, out); }

/* Small internal allocations: abort on OOM (a few KB of tables, names). Zeroed. */
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t size);
char *xstrdup(const char *s);

/* Large or request-driven allocations (KV cache, scratch slabs): 64-byte aligned (BIG_HUGE and up: BIG_HUGE-aligned
 * anonymous mappings asked for transparent huge pages, zero pages on first touch), zeroed, NULL on OOM; big_free
 * takes NULL. */
#define BIG_HUGE ((size_t)2 << 20)
void *big_alloc(size_t size);
void big_free(void *p);

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };
/* Messages at or below the level go to stderr; default LOG_WARN (LOG_ERROR when quiet). */
void log_set_level(enum log_level level);
void log_msg(enum log_level level, const char *fmt, ...) OWL_PRINTF(2, 3);

/* The kernel's estimate of memory available to a new allocation without swapping (MemAvailable in
 * /proc/meminfo), in bytes; 0 when unknown. */
size_t mem_available_bytes(void);

/* Monotonic time in seconds. */
double time_now(void);

#endif
