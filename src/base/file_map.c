/* file_map.c — mmap-based read-only file mapping, its copy in memory, and small-file reads (see file_map.h). */
#include "file_map.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

enum owl_status file_map_open(struct file_map *map, const char *path, struct owl_error *err)
{
    memset(map, 0, sizeof *map);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return fail(err, OWL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        int e = errno;
        close(fd);
        return fail(err, OWL_ERR_IO, "%s: not a regular file%s%s", path, e ? ": " : "", e ? strerror(e) : "");
    }
    map->size = (size_t)st.st_size;
    if (map->size > 0) {
        void *p = mmap(NULL, map->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            map->size = 0;
            return fail(err, OWL_ERR_IO, "%s: mmap failed: %s", path, strerror(e));
        }
        /* Large page-cache folios mapped with huge pages where the kernel can (Linux 6.x with large folios):
         * measured 10-12% more read bandwidth streaming a BF16 model's matrices on the dev machine. Advice
         * only: ignored where unsupported. */
        madvise(p, map->size, MADV_HUGEPAGE);
        map->data = p;
    }
    close(fd);
    map->path = xstrdup(path);
    return OWL_OK;
}

enum owl_status file_map_load(struct file_map *map, struct owl_error *err)
{
    if (!map->data || map->region)
        return OWL_OK;
    const size_t huge = (size_t)2 << 20, len = (map->size + huge - 1) / huge * huge + huge;
    char *region = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (region == MAP_FAILED)
        return fail(err, OWL_ERR_OUT_OF_MEMORY, "%s: cannot allocate %zu bytes to load it into memory", map->path,
                    map->size);
    char *p = (char *)(((uintptr_t)region + huge - 1) & ~(uintptr_t)(huge - 1));
    madvise(p, map->size, MADV_HUGEPAGE);
    /* a file that does not fit twice in the memory available: its page-cache pages are dropped behind the
     * reads (else the kernel reclaims them, and more, under pressure while the copy grows) */
    const bool drop = map->size > mem_available_bytes() / 2;
    enum owl_status st = OWL_OK;
    const int fd = open(map->path, O_RDONLY | O_CLOEXEC);
    struct stat st_now;
    if (fd < 0 || fstat(fd, &st_now) != 0)
        st = fail(err, OWL_ERR_IO, "%s: cannot open: %s", map->path, strerror(errno));
    else if ((size_t)st_now.st_size != map->size)
        st = fail(err, OWL_ERR_IO, "%s: changed size while open (%zu bytes, now %lld)", map->path, map->size,
                  (long long)st_now.st_size);
    /* in pieces of 64 MiB on every core: the kernel zeroes each fresh huge page and copies the file's bytes into
     * it, work one thread did alone (a 6.5 GB file in the page cache: 1.0-6.6 s -> 0.6-1.8 s, see BENCHMARKS) */
    const size_t piece = (size_t)64 << 20;
    const long n_pieces = st == OWL_OK ? (long)((map->size + piece - 1) / piece) : 0;
    size_t bad_at = SIZE_MAX; /* the first failing byte, and its errno (0: end of file) */
    int bad_errno = 0;
#pragma omp parallel for schedule(dynamic, 1) if (n_pieces > 1)
    for (long i = 0; i < n_pieces; i++) {
        const size_t end = (size_t)(i + 1) * piece < map->size ? (size_t)(i + 1) * piece : map->size;
        for (size_t got = (size_t)i * piece; got < end;) {
            const ssize_t r = pread(fd, p + got, end - got, (off_t)got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0) {
                const int e = r < 0 ? errno : 0;
#pragma omp critical(file_map_load)
                if (got < bad_at)
                    bad_at = got, bad_errno = e;
                break;
            }
            if (drop)
                posix_fadvise(fd, (off_t)got, (off_t)r, POSIX_FADV_DONTNEED);
            got += (size_t)r;
        }
    }
    if (st == OWL_OK && bad_at != SIZE_MAX)
        st = fail(err, OWL_ERR_IO, "%s: read failed at byte %zu of %zu: %s", map->path, bad_at, map->size,
                  bad_errno ? strerror(bad_errno) : "unexpected end of file");
    if (fd >= 0)
        close(fd);
    if (st != OWL_OK) {
        munmap(region, len);
        return st;
    }
    mprotect(p, map->size, PROT_READ);
    munmap((void *)map->data, map->size);
    map->data = (const uint8_t *)p;
    map->region = region;
    map->region_len = len;
    return OWL_OK;
}

bool file_map_set_writable(struct file_map *map, bool writable)
{
    return map->region && mprotect((void *)map->data, map->size, writable ? PROT_READ | PROT_WRITE : PROT_READ) == 0;
}

void file_map_close(struct file_map *map)
{
    if (!map)
        return;
    if (map->region)
        munmap(map->region, map->region_len);
    else if (map->data)
        munmap((void *)map->data, map->size);
    free(map->path);
    memset(map, 0, sizeof *map);
}

enum owl_status file_read_all(const char *path, char **out, size_t *size, struct owl_error *err)
{
    *out = NULL;
    FILE *f = fopen(path, "rb");
    if (!f)
        return fail(err, OWL_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    size_t cap = 4096, n = 0;
    char *buf = xcalloc(cap, 1);
    for (;;) {
        if (n + 1 >= cap)
            buf = xrealloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        n += got;
        if (got == 0)
            break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(buf);
        return fail(err, OWL_ERR_IO, "%s: read error", path);
    }
    buf[n] = 0;
    *out = buf;
    if (size)
        *size = n;
    return OWL_OK;
}
