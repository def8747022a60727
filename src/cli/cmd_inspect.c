/* cmd_inspect.c — owl inspect MODEL [--json] and owl compare [MODEL ...] [--json]: what a model is, as its
 * family defines it (owl_model_info from owl_inspect / owl_inspect_released), as an aligned table or JSON.
 * Nothing is loaded: files are mapped and their headers read, so a 600 GB checkpoint is described at once.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"

static bool wants_help(int argc, char **argv)
{
    for (int i = 0; i < argc; i++)
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h"))
            return true;
    return false;
}

/* ---- formatting ----------------------------------------------------------------------------------- */

static void fmt_count(char *buf, size_t size, int64_t n)
{
    if (n >= 1000000000)
        snprintf(buf, size, "%.2fB", (double)n / 1e9);
    else if (n >= 1000000)
        snprintf(buf, size, "%.1fM", (double)n / 1e6);
    else if (n >= 1000)
        snprintf(buf, size, "%.1fK", (double)n / 1e3);
    else
        snprintf(buf, size, "%lld", (long long)n);
}

static void fmt_bytes(char *buf, size_t size, uint64_t n)
{
    const char *unit[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    double v = (double)n;
    int u = 0;
    while (v >= 1024 && u < 4) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, size, "%llu B", (unsigned long long)n);
    else
        snprintf(buf, size, "%.*f %s", v < 10 ? 2 : 1, v, unit[u]);
}

enum row {
    ROW_FAMILY, ROW_LAYERS, ROW_D_MODEL, ROW_VOCAB, ROW_D_FF, ROW_ATTENTION, ROW_HEADS, ROW_MLA, ROW_WINDOW,
    ROW_EXPERTS, ROW_ROUTER, ROW_PARAMS, ROW_NON_EMBED, ROW_ACTIVE, ROW_MTP, ROW_COUNTED, ROW_WEIGHTS, ROW_DTYPES,
    ROW_QUANT, ROW_KV_TOKEN, ROW_KV_CTX, ROW_CONTEXT, ROW_ROPE, ROW_EXTENSION, ROW_COUNT
};

static const char *const row_label[ROW_COUNT] = {
    "family", "layers", "d_model", "vocab", "dense d_ff", "attention", "heads (q/kv x dim)", "MLA ranks (q/kv)",
    "sliding window", "experts (routed/used/shared)", "router", "parameters", "non-embedding", "active per token",
    "MTP parameters", "counted from", "weights", "weights by dtype", "quantization", "KV cache per token",
    "KV cache at context", "context", "RoPE", "YaRN applied in",
};

#define CELL 96

/* One model's cells, compact enough for side-by-side columns. */
static void fill_cells(const struct owl_model_info *in, bool long_form, char cells[ROW_COUNT][CELL])
{
    char a[32], b[32];
    memset(cells, 0, (size_t)ROW_COUNT * CELL);
    snprintf(cells[ROW_FAMILY], CELL, "%s (%s)", in->family, in->variant);
    if (in->n_moe_layers && in->n_moe_layers < in->n_layer)
        snprintf(cells[ROW_LAYERS], CELL, "%d (%d MoE)", in->n_layer, in->n_moe_layers);
    else
        snprintf(cells[ROW_LAYERS], CELL, "%d", in->n_layer);
    snprintf(cells[ROW_D_MODEL], CELL, "%d", in->d_model);
    snprintf(cells[ROW_VOCAB], CELL, "%d%s", in->n_vocab, in->tied_embeddings ? " (tied)" : "");
    snprintf(cells[ROW_D_FF], CELL, "%s", "-");
    if (in->d_ff)
        snprintf(cells[ROW_D_FF], CELL, "%d", in->d_ff);
    char extras[48] = "";
    snprintf(extras, sizeof extras, "%s%s%s", in->qk_norm ? ", QK-norm" : "", in->attn_bias ? ", bias" : "",
             in->sinks ? ", sinks" : "");
    snprintf(cells[ROW_ATTENTION], CELL, "%s%s", in->attention, extras);
    if (!strcmp(in->attention, "MLA")) {
        snprintf(cells[ROW_HEADS], CELL, "%d/latent x %d+%d, v %d", in->n_head, in->d_head - in->d_rope,
                 in->d_rope, in->d_v);
        if (in->q_lora_rank)
            snprintf(cells[ROW_MLA], CELL, "%d / %d", in->q_lora_rank, in->kv_lora_rank);
        else
            snprintf(cells[ROW_MLA], CELL, "none / %d", in->kv_lora_rank);
    } else {
        snprintf(cells[ROW_HEADS], CELL, "%d/%d x %d", in->n_head, in->n_kv_head, in->d_head);
        snprintf(cells[ROW_MLA], CELL, "-");
    }
    if (in->sliding_window)
        snprintf(cells[ROW_WINDOW], CELL, "%d on %s layers", in->sliding_window, in->sliding_layers);
    else
        snprintf(cells[ROW_WINDOW], CELL, "none");
    if (in->n_expert) {
        snprintf(cells[ROW_EXPERTS], CELL, "%d/%d/%d x %d", in->n_expert, in->n_expert_used, in->n_shared_expert,
                 in->d_ff_expert);
        snprintf(cells[ROW_ROUTER], CELL, "%s", in->router);
    } else {
        snprintf(cells[ROW_EXPERTS], CELL, "-");
        snprintf(cells[ROW_ROUTER], CELL, "-");
    }
    fmt_count(cells[ROW_PARAMS], CELL, in->n_params);
    fmt_count(cells[ROW_NON_EMBED], CELL, in->n_params - in->n_params_embedding);
    fmt_count(cells[ROW_ACTIVE], CELL, in->n_params_active);
    if (in->n_params_mtp)
        fmt_count(cells[ROW_MTP], CELL, in->n_params_mtp);
    else
        snprintf(cells[ROW_MTP], CELL, "-");
    snprintf(cells[ROW_COUNTED], CELL, "%s", in->params_from);
    fmt_bytes(cells[ROW_WEIGHTS], CELL, in->weight_bytes);
    size_t used = 0;
    for (int i = 0; i < in->n_weight_dtypes && used < CELL - 24; i++) {
        fmt_bytes(a, sizeof a, in->weight_dtypes[i].bytes);
        used += (size_t)snprintf(cells[ROW_DTYPES] + used, CELL - used, "%s%s %s", i ? ", " : "",
                                 in->weight_dtypes[i].dtype, a);
    }
    snprintf(cells[ROW_QUANT], CELL, "%s", in->quantization);
    fmt_bytes(a, sizeof a, in->kv_bytes_per_token);
    fmt_bytes(b, sizeof b, in->kv_bytes_per_token / 2);
    snprintf(cells[ROW_KV_TOKEN], CELL, "%s (%s; %s with --kv f16)", a, in->kv_dtype, b);
    fmt_bytes(cells[ROW_KV_CTX], CELL, in->kv_bytes_context);
    snprintf(cells[ROW_CONTEXT], CELL, "%d", in->n_ctx);
    if (in->yarn_factor > 0) {
        snprintf(b, sizeof b, "%.0f", in->rope_theta);
        snprintf(cells[ROW_ROPE], CELL, "theta %s, YaRN x%g from %d", b, in->yarn_factor, in->yarn_original_ctx);
    } else {
        snprintf(cells[ROW_ROPE], CELL, "theta %.0f", in->rope_theta);
    }
    snprintf(cells[ROW_EXTENSION], CELL, "%s", in->context_extension);
    if (!long_form)
        return;
    /* one model: exact counts and what the active count means */
    const enum row counts[] = {ROW_PARAMS, ROW_NON_EMBED, ROW_ACTIVE, ROW_MTP};
    const int64_t values[] = {in->n_params, in->n_params - in->n_params_embedding, in->n_params_active,
                              in->n_params_mtp};
    for (int i = 0; i < 4; i++)
        if (values[i])
            snprintf(cells[counts[i]] + strlen(cells[counts[i]]), CELL - strlen(cells[counts[i]]), " (%lld)",
                     (long long)values[i]);
    snprintf(cells[ROW_ACTIVE] + strlen(cells[ROW_ACTIVE]), CELL - strlen(cells[ROW_ACTIVE]), "%s",
             in->tied_embeddings ? "" : ", input embedding not counted");
    if (in->n_params_mtp)
        snprintf(cells[ROW_MTP] + strlen(cells[ROW_MTP]), CELL - strlen(cells[ROW_MTP]), ", not run");
    snprintf(cells[ROW_KV_CTX] + strlen(cells[ROW_KV_CTX]), CELL - strlen(cells[ROW_KV_CTX]), " at %d tokens%s",
             in->n_ctx, in->n_sliding_layers ? " (sliding layers keep 4096 rows; --window-rows)" : "");
}

/* ---- JSON ------------------------------------------------------------------------------------------ */

static json_t *info_json(const char *source, const struct owl_model_info *in)
{
    json_t *o = json_object(), *att = json_object(), *ex = json_object(), *p = json_object(), *w = json_object(),
           *dt = json_object(), *kv = json_object(), *ctx = json_object();
    json_object_set_new(o, "source", json_string(source));
    json_object_set_new(o, "family", json_string(in->family));
    json_object_set_new(o, "variant", json_string(in->variant));
    json_object_set_new(o, "n_layer", json_integer(in->n_layer));
    json_object_set_new(o, "d_model", json_integer(in->d_model));
    json_object_set_new(o, "n_vocab", json_integer(in->n_vocab));
    json_object_set_new(o, "d_ff", json_integer(in->d_ff));
    json_object_set_new(o, "tied_embeddings", json_boolean(in->tied_embeddings));

    json_object_set_new(att, "kind", json_string(in->attention));
    json_object_set_new(att, "n_head", json_integer(in->n_head));
    json_object_set_new(att, "n_kv_head", json_integer(in->n_kv_head));
    json_object_set_new(att, "d_head", json_integer(in->d_head));
    json_object_set_new(att, "d_v", json_integer(in->d_v));
    json_object_set_new(att, "d_rope", json_integer(in->d_rope));
    json_object_set_new(att, "q_lora_rank", json_integer(in->q_lora_rank));
    json_object_set_new(att, "kv_lora_rank", json_integer(in->kv_lora_rank));
    json_object_set_new(att, "qk_norm", json_boolean(in->qk_norm));
    json_object_set_new(att, "bias", json_boolean(in->attn_bias));
    json_object_set_new(att, "sinks", json_boolean(in->sinks));
    json_object_set_new(att, "sliding_window", json_integer(in->sliding_window));
    json_object_set_new(att, "n_sliding_layers", json_integer(in->n_sliding_layers));
    json_object_set_new(att, "sliding_layers", json_string(in->sliding_layers));
    json_object_set_new(o, "attention", att);

    json_object_set_new(ex, "n_moe_layers", json_integer(in->n_moe_layers));
    json_object_set_new(ex, "n_routed", json_integer(in->n_expert));
    json_object_set_new(ex, "n_active", json_integer(in->n_expert_used));
    json_object_set_new(ex, "n_shared", json_integer(in->n_shared_expert));
    json_object_set_new(ex, "d_ff", json_integer(in->d_ff_expert));
    json_object_set_new(ex, "router", json_string(in->router));
    json_object_set_new(o, "experts", ex);

    json_object_set_new(p, "total", json_integer(in->n_params));
    json_object_set_new(p, "embedding", json_integer(in->n_params_embedding));
    json_object_set_new(p, "non_embedding", json_integer(in->n_params - in->n_params_embedding));
    json_object_set_new(p, "active", json_integer(in->n_params_active));
    json_object_set_new(p, "routed_experts", json_integer(in->n_params_experts));
    json_object_set_new(p, "mtp", json_integer(in->n_params_mtp));
    json_object_set_new(p, "counted_from", json_string(in->params_from));
    json_object_set_new(o, "params", p);

    json_object_set_new(w, "bytes", json_integer((json_int_t)in->weight_bytes));
    for (int i = 0; i < in->n_weight_dtypes; i++)
        json_object_set_new(dt, in->weight_dtypes[i].dtype, json_integer((json_int_t)in->weight_dtypes[i].bytes));
    json_object_set_new(w, "bytes_by_dtype", dt);
    json_object_set_new(w, "quantization", json_string(in->quantization));
    json_object_set_new(o, "weights", w);

    json_object_set_new(kv, "dtype", json_string(in->kv_dtype));
    json_object_set_new(kv, "bytes_per_token", json_integer((json_int_t)in->kv_bytes_per_token));
    json_object_set_new(kv, "bytes_per_token_f16", json_integer((json_int_t)(in->kv_bytes_per_token / 2)));
    json_object_set_new(kv, "bytes_at_context", json_integer((json_int_t)in->kv_bytes_context));
    json_object_set_new(o, "kv_cache", kv);

    json_object_set_new(ctx, "n_ctx", json_integer(in->n_ctx));
    json_object_set_new(ctx, "rope", json_string(in->rope));
    json_object_set_new(ctx, "rope_theta", json_real(in->rope_theta));
    json_object_set_new(ctx, "yarn_factor", json_real(in->yarn_factor));
    json_object_set_new(ctx, "yarn_original_ctx", json_integer(in->yarn_original_ctx));
    json_object_set_new(ctx, "extension", json_string(in->context_extension));
    json_object_set_new(o, "context", ctx);
    return o;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_REAL_PRECISION(10));
    if (s)
        printf("%s\n", s);
    free(s);
}

/* ---- commands ---------------------------------------------------------------------------------------- */

int cmd_inspect(int argc, char **argv)
{
    static const char help[] =
        "usage: owl inspect MODEL [--json]\n"
        "\n"
        "Describes a model the way its family defines it: layers, attention (GQA heads or MLA ranks, sinks,\n"
        "sliding windows), experts and router, parameters in total and active per token (counted from the\n"
        "checkpoint's tensors), weight bytes by dtype, KV-cache bytes per token and at the full context (as\n"
        "owl allocates it: f32), the context length and how it is reached (YaRN, in pre-training or at\n"
        "inference). Nothing is loaded: the files are mapped and their headers read.\n"
        "\n"
        "MODEL: a model directory, .safetensors, .safetensors.index.json or .gguf file, a config.json\n"
        "alone (counts from the hyper-parameters), or the name of a built-in release (see owl compare).\n"
        "\n"
        "  --json            one JSON object (keys in docs/CLI.md)\n";
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        return 0;
    }
    struct cli_opt opts[] = {{"--json", NULL, false, NULL}};
    const char *pos[1];
    int n_pos;
    if (!cli_parse(argc, argv, opts, 1, pos, 1, &n_pos, "inspect"))
        return EXIT_USAGE;
    if (n_pos != 1) {
        fprintf(stderr, "owl inspect: need MODEL\n\n%s", help);
        return EXIT_USAGE;
    }
    struct owl_model_info info;
    struct owl_error err = {0};
    enum owl_status st = owl_inspect(pos[0], &info, &err);
    if (st == OWL_ERR_IO || st == OWL_ERR_INVALID_ARG) { /* not a path: perhaps a built-in release's name */
        struct owl_error err2 = {0};
        if (owl_inspect_released(pos[0], &info, &err2) == OWL_OK)
            st = OWL_OK;
    }
    if (st != OWL_OK) {
        fprintf(stderr, "owl: %s\n", err.message);
        return 1;
    }
    if (cli_get(opts, 1, "--json")) {
        json_t *j = info_json(pos[0], &info);
        print_json(j);
        json_decref(j);
        return 0;
    }
    char cells[ROW_COUNT][CELL];
    fill_cells(&info, true, cells);
    int w = 0;
    for (int r = 0; r < ROW_COUNT; r++)
        w = (int)strlen(row_label[r]) > w ? (int)strlen(row_label[r]) : w;
    printf("%-*s  %s\n", w, "model", pos[0]);
    for (int r = 0; r < ROW_COUNT; r++)
        printf("%-*s  %s\n", w, row_label[r], cells[r]);
    return 0;
}

int cmd_compare(int argc, char **argv)
{
    static const char help[] =
        "usage: owl compare [MODEL ...] [--json]\n"
        "\n"
        "The owl inspect table side by side, one column per model. Without MODEL: every released model\n"
        "built into owl, described from its config.json alone. A MODEL that names a built-in release\n"
        "(case-insensitive) selects it; model paths join the table (with the built-in ones when no\n"
        "release is named).\n"
        "\n"
        "  --json            a JSON array of the owl inspect --json objects\n"
        "\n"
        "built in:";
    if (wants_help(argc, argv)) {
        fputs(help, stdout);
        for (int i = 0; owl_released_name(i); i++)
            printf(" %s", owl_released_name(i));
        printf("\n");
        return 0;
    }
    struct cli_opt opts[] = {{"--json", NULL, false, NULL}};
    const char **pos = calloc((size_t)argc + 1, sizeof *pos);
    int n_pos;
    if (!cli_parse(argc, argv, opts, 1, pos, argc, &n_pos, "compare")) {
        free(pos);
        return EXIT_USAGE;
    }
    int n_builtin = 0;
    while (owl_released_name(n_builtin))
        n_builtin++;
    /* columns: every built-in release unless one is named, then the arguments in the order given */
    struct owl_model_info *infos = calloc((size_t)(n_builtin + n_pos), sizeof *infos);
    const char **names = calloc((size_t)(n_builtin + n_pos), sizeof *names);
    struct owl_model_info *given = infos + n_builtin;
    int n = 0, n_named = 0, rc = 0;
    struct owl_error err = {0};
    for (int i = 0; i < n_pos && rc == 0; i++) {
        if (owl_inspect_released(pos[i], &given[i], &err) == OWL_OK) {
            n_named++;
        } else if (owl_inspect(pos[i], &given[i], &err) != OWL_OK) {
            fprintf(stderr, "owl: %s\n", err.message);
            rc = 1;
        }
    }
    if (n_named == 0)
        for (int i = 0; i < n_builtin && rc == 0; i++)
            if (owl_inspect_released(owl_released_name(i), &infos[n], &err) == OWL_OK)
                names[n++] = owl_released_name(i);
    for (int i = 0; i < n_pos; i++) {
        infos[n] = given[i]; /* n <= n_builtin + i: never past given[i] */
        names[n++] = pos[i];
    }
    if (rc == 0 && cli_get(opts, 1, "--json")) {
        json_t *arr = json_array();
        for (int i = 0; i < n; i++)
            json_array_append_new(arr, info_json(names[i], &infos[i]));
        print_json(arr);
        json_decref(arr);
    } else if (rc == 0) {
        char(*cells)[ROW_COUNT][CELL] = calloc((size_t)n, sizeof *cells);
        int lw = 5;
        for (int r = 0; r < ROW_COUNT; r++)
            lw = (int)strlen(row_label[r]) > lw ? (int)strlen(row_label[r]) : lw;
        int *cw = calloc((size_t)n, sizeof *cw);
        for (int i = 0; i < n; i++) {
            fill_cells(&infos[i], false, cells[i]);
            cw[i] = (int)strlen(names[i]);
            for (int r = 0; r < ROW_COUNT; r++)
                cw[i] = (int)strlen(cells[i][r]) > cw[i] ? (int)strlen(cells[i][r]) : cw[i];
        }
        printf("%-*s", lw, "model");
        for (int i = 0; i < n; i++)
            printf("  %-*s", cw[i], names[i]);
        printf("\n");
        for (int r = 0; r < ROW_COUNT; r++) {
            printf("%-*s", lw, row_label[r]);
            for (int i = 0; i < n; i++)
                printf("  %-*s", cw[i], cells[i][r]);
            printf("\n");
        }
        free(cw);
        free(cells);
    }
    free(infos);
    free(names);
    free(pos);
    return rc;
}
