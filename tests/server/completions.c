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

static cJSON *choice_new(size_t index, const char *text, size_t len, cJSON *logprobs, const char *finish)
{
    char *copy = xstrndup(text, len);
    cJSON *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", (double)index);
    cJSON_AddStringToObject(c, "text", copy);
    cJSON_AddItemToObject(c, "logprobs", logprobs ? logprobs : cJSON_CreateNull());
    cJSON_AddStringToObject(c, "finish_reason", finish);
    free(copy);
    return c;
}

/* echo: the prompt followed by max_tokens copies of " the" (rules and stop not applied). */
static cJSON *choice_echo(const cmpl_req *q, size_t index, const char *prompt, usage *u)
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
    cJSON *c = choice_new(index, buf_str(&text), text.len, lp, "length");
    buf_free(&text);
    return c;
}

/* No echo: rule text (or default) cut by max_tokens and stop; logprobs over it only. */
static cJSON *choice_generate(const fo_server *srv, const cmpl_req *q, size_t index,
                              const char *prompt, usage *u)
{
    fo_gen g;
    fo_generate(fo_generated_source(srv, prompt, NULL), q->max_tokens, &q->stops, &g);
    lp_arrays a;
    cJSON *lp = q->logprobs ? lp_object_new(&a) : NULL;
    if (lp) lp_push_text(&a, g.text, g.len, 0, 0);
    u->prompt_tokens += fo_token_count(prompt, strlen(prompt));
    u->completion_tokens += fo_token_count(g.text, g.len);
    cJSON *c = choice_new(index, g.text, g.len, lp, g.finish);
    free(g.text);
    return c;
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

static int parse_logprobs(cmpl_req *q, char *err, size_t errlen)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(q->root, "logprobs");
    q->logprobs = 0;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || floor(v->valuedouble) != v->valuedouble)
        return errf(err, errlen, "'logprobs' must be a non-negative integer or null");
    q->logprobs = 1;
    return 0;
}

static int parse_request(cmpl_req *q, const char *body, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    q->root = cJSON_Parse(body);
    if (!cJSON_IsObject(q->root)) return errf(err, errlen, "request body is not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(q->root, "model");
    if (model && !cJSON_IsString(model)) return errf(err, errlen, "'model' must be a string");
    if (parse_prompt(q, err, errlen) || fo_parse_max_tokens(q->root, "max_tokens", 16, &q->max_tokens, err, errlen) ||
        parse_bool(q->root, "echo", &q->echo, err, errlen) || parse_logprobs(q, err, errlen))
        return -1;
    return fo_stops_parse(&q->stops, q->root, err, errlen);
}

/* ---- response ------------------------------------------------------------------------ */

static cJSON *usage_new(const usage *u)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "prompt_tokens", (double)u->prompt_tokens);
    cJSON_AddNumberToObject(o, "completion_tokens", (double)u->completion_tokens);
    cJSON_AddNumberToObject(o, "total_tokens", (double)(u->prompt_tokens + u->completion_tokens));
    return o;
}

static cJSON *response_new(const fo_server *srv, const cmpl_req *q, long n)
{
    char id[48];
    snprintf(id, sizeof id, "cmpl-%ld", n);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "id", id);
    cJSON_AddStringToObject(res, "object", "text_completion");
    cJSON_AddNumberToObject(res, "created", 0);
    cJSON_AddStringToObject(res, "model", srv->model);
    cJSON *choices = cJSON_AddArrayToObject(res, "choices");
    usage u = {0, 0};
    size_t index = 0;
    const cJSON *p = q->prompt;
    const cJSON *it = cJSON_IsArray(p) ? p->child : p;
    for (; it; it = cJSON_IsArray(p) ? it->next : NULL, index++) {
        const char *prompt = it->valuestring;
        cJSON_AddItemToArray(choices, q->echo ? choice_echo(q, index, prompt, &u)
                                              : choice_generate(srv, q, index, prompt, &u));
    }
    cJSON_AddItemToObject(res, "usage", usage_new(&u));
    return res;
}

void fo_handle_completions(const fo_server *srv, const char *body, long n, fo_reply *r)
{
    cmpl_req q;
    char err[256];
    if (parse_request(&q, body, err, sizeof err)) {
        fo_reply_error(r, 400, "invalid_request_error", err);
    } else {
        cJSON *res = response_new(srv, &q, n);
        fo_reply_json(r, res);
        cJSON_Delete(res);
    }
    fo_stops_free(&q.stops);
    cJSON_Delete(q.root);
}
