/* test_file_load.c — file_map_load's reads, with failures injected through a wrapped pread (this executable is
 * linked with -Wl,--wrap=pread, so the library's calls come here first): a file of four 64 MiB pieces (sparse,
 * marked at both ends and in each piece) read on every thread of the pool. An interrupted read (EINTR) is retried
 * and the copy is exact; a failing read (EIO) or an early end of file inside the third piece returns OWL_ERR_IO
 * naming the path and the first byte that could not be read, and leaves the mapping as it was (still readable, a
 * later load succeeds); a file that changed size since it was mapped is refused. */
#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "base/file_map.h"
#include "test_util.h"

ssize_t __real_pread(int fd, void *buf, size_t n, off_t off);
ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off);

static _Atomic long long g_fail_at = -1; /* the byte no read gets past (-1: none) */
static atomic_int g_fail_errno;          /* what a read starting there returns: -1 with this errno, or 0 (EOF) */
static atomic_int g_eintr;               /* reads still to interrupt */
static atomic_int g_reads;

ssize_t __wrap_pread(int fd, void *buf, size_t n, off_t off)
{
    atomic_fetch_add(&g_reads, 1);
    if (atomic_fetch_sub(&g_eintr, 1) > 0) {
        errno = EINTR;
        return -1;
    }
    const long long at = atomic_load(&g_fail_at);
    if (at >= 0 && off <= at && at < off + (long long)n) {
        if (off < at) /* a short read up to the byte; the next read, starting there, fails */
            n = (size_t)(at - off);
        else if (atomic_load(&g_fail_errno)) {
            errno = atomic_load(&g_fail_errno);
            return -1;
        } else {
            return 0;
        }
    }
    return __real_pread(fd, buf, n, off);
}

enum { PIECE = 64 << 20 };
static const size_t SIZE = (size_t)3 * PIECE + 12345; /* four pieces, the last a short one */

/* Marks: "head" at 0, "pNN" at the middle of each piece, "tail" at the end; the rest a hole (zeros). */
static void make_file(const char *path)
{
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(ftruncate(fd, (off_t)SIZE) == 0);
    CHECK(pwrite(fd, "head", 4, 0) == 4);
    for (int i = 0; i < 4; i++) {
        char mark[8];
        snprintf(mark, sizeof mark, "p%02d", i);
        CHECK(pwrite(fd, mark, 3, (off_t)i * PIECE + 1000) == 3);
    }
    CHECK(pwrite(fd, "tail", 4, (off_t)(SIZE - 4)) == 4);
    close(fd);
}

static bool marks_ok(const struct file_map *m)
{
    bool ok = m->size == SIZE && !memcmp(m->data, "head", 4) && !memcmp(m->data + SIZE - 4, "tail", 4) &&
              m->data[(size_t)2 * PIECE + 5000] == 0;
    for (int i = 0; i < 4 && ok; i++) {
        char mark[8];
        snprintf(mark, sizeof mark, "p%02d", i);
        ok = !memcmp(m->data + (size_t)i * PIECE + 1000, mark, 3);
    }
    return ok;
}

/* A load failing at byte at (errno e, or 0: end of file): OWL_ERR_IO naming the path and the byte, the mapping
 * kept and still loadable. */
static void check_failure(const char *path, long long at, int e, const char *why)
{
    struct file_map m;
    struct owl_error err = {0};
    CHECK_OK(file_map_open(&m, path, &err), &err);
    const uint8_t *before = m.data;
    atomic_store(&g_fail_at, at);
    atomic_store(&g_fail_errno, e);
    const enum owl_status st = file_map_load(&m, &err);
    atomic_store(&g_fail_at, -1);
    CHECK_MSG(st == OWL_ERR_IO, "%s: status %s", why, owl_status_name(st));
    char expect[160];
    snprintf(expect, sizeof expect, "read failed at byte %lld of %zu: %s", at, SIZE,
             e ? strerror(e) : "unexpected end of file");
    CHECK_MSG(strstr(err.message, path) && strstr(err.message, expect), "%s: message \"%s\", expected \"%s\"", why,
              err.message, expect);
    CHECK_MSG(m.data == before && !m.region && marks_ok(&m), "%s: the mapping changed", why);
    CHECK_OK(file_map_load(&m, &err), &err); /* and the same map loads once the reads work */
    CHECK_MSG(m.region && m.data != before && marks_ok(&m), "%s: the load after the failure", why);
    file_map_close(&m);
}

int main(void)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/four_pieces.bin", test_tmpdir());
    make_file(path);

    /* reads interrupted, then the whole file copied */
    struct file_map m;
    struct owl_error err = {0};
    CHECK_OK(file_map_open(&m, path, &err), &err);
    atomic_store(&g_eintr, 3);
    atomic_store(&g_reads, 0);
    CHECK_OK(file_map_load(&m, &err), &err);
    CHECK(atomic_load(&g_reads) >= 4 + 3); /* every piece, and the interrupted reads again */
    CHECK(m.region != NULL && marks_ok(&m));
    file_map_close(&m);
    atomic_store(&g_eintr, 0);

    /* inside the third piece, neither at a piece's start nor at a page's */
    const long long at = (long long)2 * PIECE + 77777;
    check_failure(path, at, EIO, "EIO");
    check_failure(path, at, 0, "early end of file");
    check_failure(path, (long long)SIZE - 1, EIO, "EIO at the last byte");

    /* the file grew after it was mapped */
    CHECK_OK(file_map_open(&m, path, &err), &err);
    CHECK(truncate(path, (off_t)SIZE + 4096) == 0);
    CHECK(file_map_load(&m, &err) == OWL_ERR_IO && strstr(err.message, "changed size while open") &&
          strstr(err.message, path));
    CHECK(!m.region && marks_ok(&m));
    file_map_close(&m);
    unlink(path);
    return test_done("test_file_load");
}
