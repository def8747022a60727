/* fuzz_request.c — libFuzzer target for the server's OpenAI request parser (api_parse_request): the first
 * byte picks the endpoint (chat or completion) and the chat format (Qwen3, DeepSeek V3, V3.1, Harmony), the
 * rest is the request body. Beyond not crashing: a rejected request carries an HTTP status and a message; an
 * accepted one has a prompt and at most API_MAX_STOP stop strings. */
#include <string.h>

#include "server/api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const enum chat_format formats[] = {CHAT_QWEN3, CHAT_DEEPSEEK_V3, CHAT_DEEPSEEK_V31, CHAT_HARMONY};
    const struct api_model_info mi = {.id = "owl", .has_format = (data[0] & 8) == 0, .format = formats[data[0] & 3]};
    const enum api_kind kind = data[0] & 4 ? API_COMPLETION : API_CHAT;
    struct gen_request r;
    struct api_error e;
    memset(&r, 0, sizeof r);
    memset(&e, 0, sizeof e);
    if (api_parse_request(kind, (const char *)data + 1, size - 1, &mi, &r, &e)) {
        OWL_ASSERT(r.prompt != NULL && r.n_stop >= 0 && r.n_stop <= API_MAX_STOP);
        api_request_free(&r);
    } else {
        OWL_ASSERT(e.http_status >= 400 && e.http_status < 600 && e.message[0]);
    }
    return 0;
}
