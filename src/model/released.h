/* released.h — built-in config.json of released models (released.c), by name. */
#ifndef OWL_RELEASED_H
#define OWL_RELEASED_H

struct released_config {
    const char *name;        /* the release's name: "Qwen3-8B", "gpt-oss-20b", "DeepSeek-V3" */
    const char *config_json; /* its config.json */
};

extern const struct released_config released_configs[];
extern const int n_released_configs;

#endif
