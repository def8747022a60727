/* file_map.h — read-only memory mapping of a whole file.
 *
 * Tensors are views into these mappings. An empty file maps to size 0 with data == NULL (mmap refuses
 * length 0). file_map_load trades the file mapping for a copy of the bytes in anonymous memory.
 */
#ifndef OWL_FILE_MAP_H
#define OWL_FILE_MAP_H

#include "base.h"

struct file_map {
    char *path;       /* owned copy of the path, for messages */
    const uint8_t *data; /* (size) bytes, read-only: a private mapping of the file, or its copy (file_map_load);
                            NULL when size == 0 */
    size_t size;
    void *region;     /* the copy's anonymous mapping (region_len bytes), NULL while data maps the file */
    size_t region_len;
};

/* Map path read-only. On failure returns OWL_ERR_IO naming the path and errno text; *map is zeroed. */
enum owl_status file_map_open(struct file_map *map, const char *path, struct owl_error *err);
void file_map_close(struct file_map *map); /* NULL-safe, idempotent */

/* Read the whole file into anonymous memory advised for transparent huge pages (2 MiB-aligned; in 64 MiB pieces
 * on every core of the OpenMP pool), made read-only once filled, and drop the file mapping: data moves (callers
 * rebase pointers into it by data - old data). Streaming weights from such memory avoids a page walk every 4 KiB,
 * which on virtual machines (nested paging) costs decode 10-20% (docs/BENCHMARKS.md). Errors, the mapping left as it was:
 * OWL_ERR_OUT_OF_MEMORY; OWL_ERR_IO naming the path (a read error, or the file changed size since it was
 * mapped). A no-op when size == 0 or already loaded. A file larger than half the memory available has its
 * page-cache pages dropped as it is read (POSIX_FADV_DONTNEED), so the copy does not push the machine into
 * reclaim; a later start then reads it from disk. */
enum owl_status file_map_load(struct file_map *map, struct owl_error *err);

/* A file read into memory (file_map_load) made writable, or read-only again, for weights regrouped in place at
 * load; false (nothing changed) for a mapped file, whose pages are the page cache's, or if mprotect fails. */
bool file_map_set_writable(struct file_map *map, bool writable);

/* Read a whole (small) file into a NUL-terminated malloc'd buffer (for JSON). Caller frees. */
enum owl_status file_read_all(const char *path, char **out, size_t *size, struct owl_error *err);

#endif
