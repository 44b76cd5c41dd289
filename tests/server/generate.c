/* generate.c — the fake model's "generation": rule lookup, max_tokens, stop strings. */
#include "fake_openai.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define FO_DEFAULT_TEXT "The answer is 42.\n\nQuestion: ignored"
#define FO_MAX_TOKENS_LIMIT 1000000000L

static void stops_add(fo_stops *stops, const char *s)
{
    if (!*s) return; /* an empty stop string would match everywhere: ignore it */
    stops->items = xrealloc(stops->items, (stops->count + 1) * sizeof *stops->items);
    stops->items[stops->count++] = xstrdup(s);
}

int fo_stops_parse(fo_stops *stops, const cJSON *body, char *err, size_t errlen)
{
    memset(stops, 0, sizeof *stops);
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, "stop");
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsString(v)) {
        stops_add(stops, v->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(v)) return errf(err, errlen, "'stop' must be a string, a list of strings or null");
    const cJSON *it;
    cJSON_ArrayForEach(it, v) {
        if (!cJSON_IsString(it)) {
            fo_stops_free(stops);
            return errf(err, errlen, "'stop' list items must be strings");
        }
        stops_add(stops, it->valuestring);
    }
    return 0;
}

void fo_stops_free(fo_stops *stops)
{
    for (size_t i = 0; i < stops->count; i++) free(stops->items[i]);
    free(stops->items);
    stops->items = NULL;
    stops->count = 0;
}

int fo_parse_max_tokens(const cJSON *body, const char *key, long dflt, long *out,
                        char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    if (!v || cJSON_IsNull(v)) {
        *out = dflt;
        return 0;
    }
    double d = cJSON_IsNumber(v) ? v->valuedouble : -1.0;
    if (d < 0 || d > (double)FO_MAX_TOKENS_LIMIT || floor(d) != d)
        return errf(err, errlen, "'%s' must be an integer between 0 and %ld", key, FO_MAX_TOKENS_LIMIT);
    *out = (long)d;
    return 0;
}

/* Byte length of the first max_tokens tokens of s (all of s when it has fewer). */
static size_t first_tokens_len(const char *s, size_t n, long max_tokens, int *cut)
{
    fo_token *toks;
    size_t count = fo_tokenize(s, n, &toks);
    size_t len = n;
    *cut = max_tokens >= 0 && count > (size_t)max_tokens;
    if (*cut) len = max_tokens == 0 ? 0 : toks[max_tokens - 1].off + toks[max_tokens - 1].len;
    free(toks);
    return len;
}

/* Byte position of the earliest occurrence of any stop string in s, or -1. */
static long earliest_stop(const char *s, size_t n, const fo_stops *stops)
{
    long best = -1;
    for (size_t i = 0; i < stops->count; i++) {
        size_t sl = strlen(stops->items[i]);
        for (size_t p = 0; p + sl <= n && (best < 0 || (long)p < best); p++) {
            if (memcmp(s + p, stops->items[i], sl) == 0) {
                best = (long)p;
                break;
            }
        }
    }
    return best;
}

void fo_generate(const char *src, long max_tokens, const fo_stops *stops, fo_gen *out)
{
    int cut;
    size_t len = first_tokens_len(src, strlen(src), max_tokens, &cut);
    long stop_at = earliest_stop(src, len, stops);
    out->finish = "stop";
    if (stop_at >= 0)
        len = (size_t)stop_at;
    else if (cut)
        out->finish = "length";
    out->text = xstrndup(src, len);
    out->len = len;
}

const char *fo_generated_source(const fo_server *srv, const char *prompt, const fo_rule **rule)
{
    const fo_rule *r = fo_rules_match(&srv->rules, prompt);
    if (rule) *rule = r;
    return r ? r->text : FO_DEFAULT_TEXT;
}
