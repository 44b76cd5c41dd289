/* completions.c — POST /v1/completions: echo, logprobs, max_tokens and stop, like vLLM. */
#include "fake_openai.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

#define FO_ECHO_TOKEN " the"
#define FO_ECHO_LP (-1.0)

typedef struct cmpl_req {
    cJSON *root;
    const cJSON *prompt; /* a string, or a non-empty array of strings */
    long max_tokens;
    int echo;
    int logprobs;        /* 1 when the body asks for logprobs */
    fo_stops stops;
} cmpl_req;

typedef struct usage {
    size_t prompt_tokens, completion_tokens;
} usage;

/* The four parallel arrays of an OpenAI completions "logprobs" object. */
typedef struct lp_arrays {
    cJSON *tokens, *token_logprobs, *text_offset, *top_logprobs;
} lp_arrays;

enum lp_kind { LP_NULL, LP_RULE, LP_ECHO };

/* ---- logprobs ---------------------------------------------------------------------- */

static cJSON *lp_object_new(lp_arrays *a)
{
    cJSON *obj = cJSON_CreateObject();
    a->tokens = cJSON_AddArrayToObject(obj, "tokens");
    a->token_logprobs = cJSON_AddArrayToObject(obj, "token_logprobs");
    a->text_offset = cJSON_AddArrayToObject(obj, "text_offset");
    a->top_logprobs = cJSON_AddArrayToObject(obj, "top_logprobs");
    return obj;
}

/* Append one position: the token, its logprob, its code-point offset and its top_logprobs. */
static void lp_push(lp_arrays *a, const char *s, size_t n, size_t offset, enum lp_kind kind)
{
    char *tok = xstrndup(s, n);
    cJSON_AddItemToArray(a->tokens, cJSON_CreateString(tok));
    cJSON_AddItemToArray(a->text_offset, cJSON_CreateNumber((double)offset));
    if (kind == LP_NULL) {
        cJSON_AddItemToArray(a->token_logprobs, cJSON_CreateNull());
        cJSON_AddItemToArray(a->top_logprobs, cJSON_CreateNull());
    } else {
        double lp = kind == LP_ECHO ? FO_ECHO_LP : fo_token_lp(s, n);
        cJSON *top = cJSON_CreateObject();
        if (kind == LP_RULE && !fo_token_greedy(s, n)) cJSON_AddNumberToObject(top, "<alt>", -0.001);
        cJSON_AddNumberToObject(top, tok, lp);
        cJSON_AddItemToArray(a->token_logprobs, cJSON_CreateNumber(lp));
        cJSON_AddItemToArray(a->top_logprobs, top);
    }
    free(tok);
}

/* Append every token of s (offsets start at cp_base); the first one null when first_null. */
static void lp_push_text(lp_arrays *a, const char *s, size_t n, size_t cp_base, int first_null)
{
    fo_token *t;
    size_t count = fo_tokenize(s, n, &t), cp = cp_base, prev = 0;
    for (size_t i = 0; i < count; i++) {
        cp += fo_codepoints(s + prev, t[i].off - prev);
        prev = t[i].off;
        lp_push(a, s + t[i].off, t[i].len, cp, first_null && i == 0 ? LP_NULL : LP_RULE);
    }
    free(t);
}

/* ---- one choice ------------------------------------------------------------------- */

/* Append the decimal digits of v (printf costs more than the rest of a small reply). */
static void put_count(buf *out, size_t v)
{
    char digits[24], *p = digits + sizeof digits;
    do {
        *--p = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(out, p, (size_t)(digits + sizeof digits - p));
}

/* Append {"index":I,"text":T,"logprobs":L|null,"finish_reason":F} to out (the hot path of
   the server: written directly, byte for byte what cJSON would print). */
static void choice_write(buf *out, size_t index, const char *text, size_t len, cJSON *logprobs,
                         const char *finish)
{
    buf_puts(out, index ? ",{\"index\":" : "{\"index\":");
    put_count(out, index);
    buf_puts(out, ",\"text\":");
    buf_json_string(out, text, len);
    buf_puts(out, ",\"logprobs\":");
    if (logprobs) {
        char *lp = cJSON_PrintUnformatted(logprobs);
        buf_puts(out, lp ? lp : "null");
        free(lp);
        cJSON_Delete(logprobs);
    } else {
        buf_puts(out, "null");
    }
    buf_puts(out, ",\"finish_reason\":\"");
    buf_puts(out, finish);
    buf_puts(out, "\"}");
}

/* echo: the prompt followed by max_tokens copies of " the" (rules and stop not applied). */
static void choice_echo(const cmpl_req *q, size_t index, const char *prompt, usage *u, buf *out)
{
    size_t plen = strlen(prompt), cp = fo_codepoints(prompt, plen);
    size_t tlen = strlen(FO_ECHO_TOKEN);
    buf text = {0};
    buf_append(&text, prompt, plen);
    lp_arrays a;
    cJSON *lp = q->logprobs ? lp_object_new(&a) : NULL;
    if (lp) lp_push_text(&a, prompt, plen, 0, 1);
    for (long i = 0; i < q->max_tokens; i++) {
        buf_puts(&text, FO_ECHO_TOKEN);
        if (lp) lp_push(&a, FO_ECHO_TOKEN, tlen, cp + (size_t)i * tlen, LP_ECHO);
    }
    u->prompt_tokens += fo_token_count(prompt, plen);
    u->completion_tokens += (size_t)q->max_tokens;
    choice_write(out, index, buf_str(&text), text.len, lp, "length");
    buf_free(&text);
}

/* No echo: rule text (or default) cut by max_tokens and stop; logprobs over it only. */
static void choice_generate(const fo_server *srv, const cmpl_req *q, size_t index,
                            const char *prompt, usage *u, buf *out)
{
    fo_gen g;
    fo_generate(fo_generated_source(srv, prompt, NULL), q->max_tokens, &q->stops, &g);
    lp_arrays a;
    cJSON *lp = q->logprobs ? lp_object_new(&a) : NULL;
    if (lp) lp_push_text(&a, g.text, g.len, 0, 0);
    u->prompt_tokens += fo_token_count(prompt, strlen(prompt));
    u->completion_tokens += fo_token_count(g.text, g.len);
    choice_write(out, index, g.text, g.len, lp, g.finish);
    free(g.text);
}

/* ---- request parsing ----------------------------------------------------------------- */

static int parse_prompt(cmpl_req *q, char *err, size_t errlen)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(q->root, "prompt");
    if (!p) return errf(err, errlen, "'prompt' is required");
    if (cJSON_IsString(p)) {
        q->prompt = p;
        return 0;
    }
    if (!cJSON_IsArray(p) || cJSON_GetArraySize(p) == 0)
        return errf(err, errlen, "'prompt' must be a string or a non-empty list of strings");
    const cJSON *it;
    cJSON_ArrayForEach(it, p) {
        if (!cJSON_IsString(it)) return errf(err, errlen, "'prompt' list items must be strings");
    }
    q->prompt = p;
    return 0;
}

/* Optional boolean body[key]: absent/null is 0. */
static int parse_bool(const cJSON *body, const char *key, int *out, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(body, key);
    *out = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsBool(v)) return errf(err, errlen, "'%s' must be a boolean", key);
    *out = cJSON_IsTrue(v);
    return 0;
}

/* logprobs: a non-negative integer or null; with the logprobs-bool quirk, a boolean. */
static int parse_logprobs(const fo_server *srv, cmpl_req *q, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(q->root, "logprobs");
    q->logprobs = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (srv->quirks.logprobs_bool) {
        if (!cJSON_IsBool(v))
            return errf(err, errlen, "1 validation error: body.logprobs: Input should be a valid boolean");
        q->logprobs = cJSON_IsTrue(v);
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || floor(v->valuedouble) != v->valuedouble)
        return errf(err, errlen, "'logprobs' must be a non-negative integer or null");
    q->logprobs = 1;
    return 0;
}

static int parse_request(const fo_server *srv, cmpl_req *q, const char *body, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    q->root = cJSON_Parse(body);
    if (!cJSON_IsObject(q->root)) return errf(err, errlen, "request body is not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(q->root, "model");
    if (model && !cJSON_IsString(model)) return errf(err, errlen, "'model' must be a string");
    if (parse_prompt(q, err, errlen) || fo_parse_max_tokens(q->root, "max_tokens", 16, &q->max_tokens, err, errlen) ||
        parse_bool(q->root, "echo", &q->echo, err, errlen) || parse_logprobs(srv, q, err, errlen))
        return -1;
    if (srv->quirks.no_echo_logprobs && q->echo && q->logprobs)
        return errf(err, errlen, "echo is not supported together with logprobs for this model");
    return fo_stops_parse(&q->stops, q->root, err, errlen);
}

/* ---- response ------------------------------------------------------------------------ */

static void response_write(const fo_server *srv, const cmpl_req *q, long n, buf *out)
{
    buf_puts(out, "{\"id\":\"cmpl-");
    put_count(out, (size_t)n);
    buf_puts(out, "\",\"object\":\"text_completion\",\"created\":0,\"model\":");
    buf_json_string(out, srv->model, strlen(srv->model));
    buf_puts(out, ",\"choices\":[");
    usage u = {0, 0};
    size_t index = 0;
    const cJSON *p = q->prompt;
    const cJSON *it = cJSON_IsArray(p) ? p->child : p;
    for (; it; it = cJSON_IsArray(p) ? it->next : NULL, index++) {
        if (q->echo) choice_echo(q, index, it->valuestring, &u, out);
        else choice_generate(srv, q, index, it->valuestring, &u, out);
    }
    buf_puts(out, "],\"usage\":{\"prompt_tokens\":");
    put_count(out, u.prompt_tokens);
    buf_puts(out, ",\"completion_tokens\":");
    put_count(out, u.completion_tokens);
    buf_puts(out, ",\"total_tokens\":");
    put_count(out, u.prompt_tokens + u.completion_tokens);
    buf_puts(out, "}}");
}

/* --max-context: 1 when r holds the 400 for the first prompt that does not fit. */
static int over_context(const fo_server *srv, const cmpl_req *q, fo_reply *r)
{
    if (srv->max_context <= 0) return 0;
    const cJSON *p = q->prompt;
    for (const cJSON *it = cJSON_IsArray(p) ? p->child : p; it; it = cJSON_IsArray(p) ? it->next : NULL) {
        size_t tokens = fo_token_count(it->valuestring, strlen(it->valuestring));
        if (fo_context_check(srv, tokens, q->max_tokens, r)) return 1;
    }
    return 0;
}

int fo_context_check(const fo_server *srv, size_t prompt_tokens, long max_tokens, fo_reply *r)
{
    long limit = srv->max_context;
    size_t want = prompt_tokens + (size_t)(max_tokens > 0 ? max_tokens : 0);
    if (limit <= 0 || want <= (size_t)limit) return 0;
    char msg[320];
    snprintf(msg, sizeof msg, "This model's maximum context length is %ld tokens. However, you "
             "requested %zu tokens (%zu in the messages, %ld in the completion). Please reduce the "
             "length of the messages or completion.", limit, want, prompt_tokens,
             max_tokens > 0 ? max_tokens : 0);
    fo_reply_error(r, 400, "BadRequestError", msg);
    return 1;
}

void fo_handle_completions(const fo_server *srv, const char *body, long n, fo_reply *r)
{
    cmpl_req q;
    char err[256];
    if (parse_request(srv, &q, body, err, sizeof err)) {
        fo_reply_error(r, 400, "invalid_request_error", err);
    } else if (over_context(srv, &q, r)) {
        /* r holds the 400 */
    } else {
        response_write(srv, &q, n, fo_reply_start(r));
    }
    fo_stops_free(&q.stops);
    cJSON_Delete(q.root);
}
