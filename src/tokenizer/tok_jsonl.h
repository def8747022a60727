/* tok_jsonl.h — JSON-lines front ends over the tokenizer for the CLI (`owl tokenize --jsonl`,
 * `owl detokenize --jsonl`) and the golden tools. Output formats: ids as a compact JSON array
 * ("[1,2,3]\n"), text as a JSON string ("\"hi\"\n", non-ASCII kept as UTF-8).
 */
#ifndef OWL_TOK_JSONL_H
#define OWL_TOK_JSONL_H

#include <stdio.h>

#include "tokenizer/tokenizer.h"

/* Each non-empty line of in is one JSON string; each gets one JSON array of ids on out. Stops at the first
 * bad line (OWL_ERR_INVALID_ARG naming the line) or bad text; lines before it are already printed. */
enum owl_status tokenizer_jsonl_encode(struct tokenizer *tok, FILE *in, FILE *out, bool add_bos,
                                       struct owl_error *err);
/* Each non-empty line is a JSON array of ids; each gets one JSON string (special tokens printed). */
enum owl_status tokenizer_jsonl_decode(const struct tokenizer *tok, FILE *in, FILE *out, struct owl_error *err);

/* Parse a JSON array of ids (len bytes) into ids (cleared first). */
enum owl_status tokenizer_parse_ids(const char *json, size_t len, struct token_buf *ids, struct owl_error *err);
/* Print "[1,2,3]\n" / a JSON string and "\n". */
enum owl_status tokenizer_print_ids(FILE *out, const int32_t *ids, size_t n);
enum owl_status tokenizer_print_string(FILE *out, const char *s, size_t len);

#endif
