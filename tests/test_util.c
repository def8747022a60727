/* test_util.c — see test_util.h. */
#include "test_util.h"

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>
#include <sys/stat.h>

int test_failures = 0;
int test_checks = 0;

int test_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, test_checks - test_failures, test_failures);
    return test_failures ? 1 : 0;
}

const char *fixture_path(const char *rel)
{
    static char buf[4096];
    snprintf(buf, sizeof buf, "%s/%s", OWL_FIXTURES, rel);
    return buf;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static char g_tmpdir[1024];
static void remove_tmpdir(void) { nftw(g_tmpdir, remove_entry, 16, FTW_DEPTH | FTW_PHYS); }

const char *test_tmpdir(void)
{
    char *dir = g_tmpdir;
    if (!dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(dir, sizeof g_tmpdir, "%s/owl-test-%ld", base && *base ? base : "/tmp", (long)getpid());
        mkdir(dir, 0700);
        atexit(remove_tmpdir);
    }
    return dir;
}

int write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = fwrite(data, 1, size, f);
    return (fclose(f) == 0 && n == size) ? 0 : -1;
}

void *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    for (;;) {
        if (n + 1 >= cap)
            buf = realloc(buf, cap *= 2);
        size_t got = fread(buf + n, 1, cap - n - 1, f);
        if (!got)
            break;
        n += got;
    }
    fclose(f);
    buf[n] = 0;
    if (size)
        *size = n;
    return buf;
}
