/* file_map.h — read-only memory mapping of a whole file.
 *
 * Weights are never copied: tensors are views into these mappings. An empty file maps to size 0 with
 * data == NULL (mmap refuses length 0).
 */
#ifndef OWL_FILE_MAP_H
#define OWL_FILE_MAP_H

#include "base.h"

struct file_map {
    char *path;       /* owned copy of the path, for messages */
    const uint8_t *data; /* (size) bytes, read-only, private mapping; NULL when size == 0 */
    size_t size;
};

/* Map path read-only. On failure returns OWL_ERR_IO naming the path and errno text; *map is zeroed. */
enum owl_status file_map_open(struct file_map *map, const char *path, struct owl_error *err);
void file_map_close(struct file_map *map); /* NULL-safe, idempotent */

/* Read a whole (small) file into a NUL-terminated malloc'd buffer (for JSON). Caller frees. */
enum owl_status file_read_all(const char *path, char **out, size_t *size, struct owl_error *err);

#endif
