/* openai_json.c — endpoint URL, request bodies and response parsing for the OpenAI backend. */
#include "openai_json.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <cjson/cJSON.h>
#include <curl/curl.h>

#include "answer_scan.h"
#include "util/buf.h"

#define OAI_DEFAULT_MAX_TOKENS 256
#define OAI_BODY_EXCERPT 100 /* bytes of a non-JSON body quoted in the error */

/* ---- small helpers -------------------------------------------------------------------- */

static int ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static void problem(oai_problem *why, const char *head, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void problem(oai_problem *why, const char *head, const char *fmt, ...)
{
    snprintf(why->head, sizeof why->head, "%s", head);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why->detail, sizeof why->detail, fmt, ap);
    va_end(ap);
}

/* Bytes of the code point starting at s (n > 0 bytes left); see oai_utf8_codepoints. */
static size_t utf8_step(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
    size_t k = 1;
    while (k < want && k < n && (s[k] & 0xC0) == 0x80) k++;
    return k;
}

size_t oai_utf8_codepoints(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t count = 0;
    for (size_t i = 0; i < n; count++) i += utf8_step(u + i, n - i);
    return count;
}

size_t oai_cut_at_stop(const char *text, size_t len, char *const *until, size_t n_until)
{
    size_t cut = len;
    for (size_t i = 0; i < n_until; i++) {
        size_t k = until[i] ? strlen(until[i]) : 0;
        if (k == 0 || k > cut) continue;
        for (size_t at = 0; at + k <= cut; at++) { /* only an earlier hit matters */
            if (text[at] == until[i][0] && memcmp(text + at, until[i], k) == 0) {
                cut = at;
                break;
            }
        }
    }
    return cut;
}

/* Copy up to max bytes of s, control characters as spaces, never splitting a code point. */
static char *clean_excerpt(const char *s, size_t n, size_t max)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t end = 0;
    while (end < n) {
        size_t step = utf8_step(u + end, n - end);
        if (end + step > max) break;
        end += step;
    }
    char *out = xstrndup(s, end);
    for (size_t i = 0; i < end; i++)
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f) out[i] = ' ';
    if (end < n) {
        buf b = {0};
        buf_puts(&b, out);
        buf_puts(&b, "...");
        free(out);
        out = buf_steal(&b);
    }
    return out;
}

/* ---- endpoint URL ------------------------------------------------------------------- */

char *oai_endpoint_url(const char *base_url, int chat, char *err, size_t errlen)
{
    size_t n = base_url ? strlen(base_url) : 0;
    while (n > 0 && base_url[n - 1] == '/') n--;
    if (n == 0) {
        errf(err, errlen, "base_url is required (e.g. base_url=http://127.0.0.1:8000/v1)");
        return NULL;
    }
    int is_chat = ends_with(base_url, n, "/chat/completions");
    int is_cmpl = !is_chat && ends_with(base_url, n, "/completions");
    if ((is_chat && !chat) || (is_cmpl && chat)) {
        errf(err, errlen, "base_url %.*s is a %s endpoint but the backend is openai-%s",
             (int)n, base_url, is_chat ? "chat" : "completions", chat ? "chat" : "completions");
        return NULL;
    }
    buf url = {0};
    buf_append(&url, base_url, n);
    if (!is_chat && !is_cmpl) buf_puts(&url, chat ? "/chat/completions" : "/completions");
    return buf_steal(&url);
}

/* ---- request bodies ----------------------------------------------------------------- */

/* The body is built as '{' then "key":value pairs; '}' closes it. */
static void put_key(buf *b, const char *key)
{
    if (b->len > 0 && b->data[b->len - 1] != '{') buf_putc(b, ',');
    buf_json_string(b, key, strlen(key));
    buf_putc(b, ':');
}

static void put_string(buf *b, const char *key, const char *s)
{
    put_key(b, key);
    if (!s) s = "";
    buf_json_string(b, s, strlen(s));
}

/* Shortest %g form that reads back to the same double (integers without printf). */
static void put_number(buf *b, const char *key, double x)
{
    char tmp[40];
    put_key(b, key);
    if (x == 0) {
        buf_putc(b, '0'); /* the common temperature */
        return;
    }
    snprintf(tmp, sizeof tmp, "%.15g", x);
    if (strtod(tmp, NULL) != x) snprintf(tmp, sizeof tmp, "%.17g", x);
    buf_puts(b, tmp);
}

/* A non-negative int without printf. */
static void put_uint(buf *b, unsigned long long v)
{
    char tmp[24];
    size_t i = sizeof tmp;
    do {
        tmp[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    buf_append(b, tmp + i, sizeof tmp - i);
}

/* "stop": the non-empty until strings; omitted when there are none. */
static void put_stop(buf *b, const gen_args *g)
{
    int any = 0;
    for (size_t i = 0; i < g->n_until; i++) {
        if (!g->until[i] || !g->until[i][0]) continue;
        if (!any) {
            put_key(b, "stop");
            buf_putc(b, '[');
        } else {
            buf_putc(b, ',');
        }
        buf_json_string(b, g->until[i], strlen(g->until[i]));
        any = 1;
    }
    if (any) buf_putc(b, ']');
}

/* messages_json verbatim (checked to be a JSON array), or one user message. */
static int put_messages(buf *b, const eval_request *r, char *err, size_t errlen)
{
    put_key(b, "messages");
    if (!r->messages_json) {
        buf_puts(b, "[{\"role\":\"user\",\"content\":");
        buf_json_string(b, r->context ? r->context : "", r->context ? strlen(r->context) : 0);
        buf_puts(b, "}]");
        return 0;
    }
    cJSON *m = cJSON_Parse(r->messages_json);
    int ok = cJSON_IsArray(m);
    cJSON_Delete(m);
    if (!ok) return errf(err, errlen, "messages_json is not a JSON array");
    buf_puts(b, r->messages_json);
    return 0;
}

static int put_generation(buf *b, const eval_request *r, char *err, size_t errlen)
{
    const gen_args *g = &r->gen;
    if (!isfinite(g->temperature)) return errf(err, errlen, "temperature is not a finite number");
    put_key(b, "max_tokens");
    put_uint(b, (unsigned long long)(g->max_tokens > 0 ? g->max_tokens : OAI_DEFAULT_MAX_TOKENS));
    put_number(b, "temperature", g->temperature);
    put_stop(b, g);
    if (g->top_p >= 0 && isfinite(g->top_p)) put_number(b, "top_p", g->top_p);
    if (g->seed >= 0) {
        put_key(b, "seed");
        put_uint(b, (unsigned long long)g->seed);
    }
    return 0;
}

/* The prompt of an echo request: context + continuation, as one JSON string. */
static void put_echo_prompt(buf *b, const eval_request *r)
{
    const char *ctx = r->context ? r->context : "";
    const char *cont = r->kind == REQ_LOGLIKELIHOOD && r->continuation ? r->continuation : "";
    size_t nc = strlen(ctx), nt = strlen(cont);
    if (nt == 0) {
        buf_json_string(b, ctx, nc);
        return;
    }
    buf_json_string(b, ctx, nc);
    b->len--; /* reopen the string: drop its closing quote */
    size_t at = b->len;
    buf_json_string(b, cont, nt);
    memmove(b->data + at, b->data + at + 1, b->len - at - 1); /* drop the opening quote */
    b->len--;
    b->data[b->len] = '\0';
}

static void put_echo_params(buf *b)
{
    buf_puts(b, ",\"max_tokens\":1,\"temperature\":0,\"echo\":true,\"logprobs\":1");
}

static int is_echo_kind(req_kind k)
{
    return k == REQ_LOGLIKELIHOOD || k == REQ_LOGLIKELIHOOD_ROLLING;
}

int oai_write_body(buf *b, const eval_request *r, const char *model, int chat, char *err, size_t errlen)
{
    buf_putc(b, '{');
    put_string(b, "model", model);
    int rc = 0;
    if (r->kind == REQ_GENERATE) {
        if (chat) rc = put_messages(b, r, err, errlen);
        else put_string(b, "prompt", r->context);
        if (rc == 0) rc = put_generation(b, r, err, errlen);
    } else if (!chat && is_echo_kind(r->kind)) {
        put_key(b, "prompt");
        put_echo_prompt(b, r);
        put_echo_params(b);
    } else {
        rc = errf(err, errlen, "openai-%s cannot serve %s requests", chat ? "chat" : "completions",
                  req_kind_name(r->kind));
    }
    if (rc == 0) buf_putc(b, '}');
    return rc;
}

char *oai_build_body(const eval_request *r, const char *model, int chat, char *err, size_t errlen)
{
    buf b = {0};
    if (oai_write_body(&b, r, model, chat, err, errlen) != 0) {
        buf_free(&b);
        return NULL;
    }
    return buf_steal(&b);
}

static int same_strings(char *const *a, size_t na, char *const *b, size_t nb)
{
    if (na != nb) return 0;
    if (a == b) return 1;
    for (size_t i = 0; i < na; i++) {
        if ((a[i] == NULL) != (b[i] == NULL)) return 0;
        if (a[i] && a[i] != b[i] && strcmp(a[i], b[i]) != 0) return 0;
    }
    return 1;
}

int oai_batchable(const eval_request *a, const eval_request *b)
{
    if (a->messages_json || b->messages_json) return 0;
    if (is_echo_kind(a->kind) && is_echo_kind(b->kind)) return 1;
    if (a->kind != REQ_GENERATE || b->kind != REQ_GENERATE) return 0;
    const gen_args *x = &a->gen, *y = &b->gen;
    int mt_x = x->max_tokens > 0 ? x->max_tokens : OAI_DEFAULT_MAX_TOKENS;
    int mt_y = y->max_tokens > 0 ? y->max_tokens : OAI_DEFAULT_MAX_TOKENS;
    return mt_x == mt_y && memcmp(&x->temperature, &y->temperature, sizeof x->temperature) == 0 &&
           memcmp(&x->top_p, &y->top_p, sizeof x->top_p) == 0 && x->seed == y->seed &&
           same_strings(x->until, x->n_until, y->until, y->n_until);
}

int oai_write_batch_body(buf *b, const eval_request *reqs, const size_t *idx, size_t n,
                         const char *model, char *err, size_t errlen)
{
    const eval_request *first = &reqs[idx[0]];
    if (n == 1) return oai_write_body(b, first, model, 0, err, errlen);
    buf_putc(b, '{');
    put_string(b, "model", model);
    put_key(b, "prompt");
    buf_putc(b, '[');
    for (size_t k = 0; k < n; k++) {
        const eval_request *r = &reqs[idx[k]];
        if (k) buf_putc(b, ',');
        if (is_echo_kind(r->kind)) put_echo_prompt(b, r);
        else buf_json_string(b, r->context ? r->context : "", r->context ? strlen(r->context) : 0);
    }
    buf_putc(b, ']');
    int rc = 0;
    if (is_echo_kind(first->kind)) put_echo_params(b);
    else if (first->kind == REQ_GENERATE) rc = put_generation(b, first, err, errlen);
    else rc = errf(err, errlen, "openai-completions cannot serve %s requests", req_kind_name(first->kind));
    if (rc == 0) buf_putc(b, '}');
    return rc;
}

/* ---- response parsing ------------------------------------------------------------- */

/* The parsed arrays of choices[0].logprobs. */
typedef struct echo_lp {
    const cJSON *tokens, *logprobs, *offsets, *top; /* top may be NULL */
    int n;
} echo_lp;

static int get_echo_lp(const cJSON *choice, echo_lp *e, oai_problem *why)
{
    const cJSON *lp = cJSON_GetObjectItemCaseSensitive(choice, "logprobs");
    if (!cJSON_IsObject(lp)) {
        problem(why, "malformed response", "no choices[0].logprobs (does the server support "
                "echo=true with logprobs?)");
        return -1;
    }
    e->tokens = cJSON_GetObjectItemCaseSensitive(lp, "tokens");
    e->logprobs = cJSON_GetObjectItemCaseSensitive(lp, "token_logprobs");
    e->offsets = cJSON_GetObjectItemCaseSensitive(lp, "text_offset");
    e->top = cJSON_GetObjectItemCaseSensitive(lp, "top_logprobs");
    if (!cJSON_IsArray(e->top)) e->top = NULL;
    if (!cJSON_IsArray(e->tokens) || !cJSON_IsArray(e->logprobs) || !cJSON_IsArray(e->offsets)) {
        problem(why, "malformed response", "choices[0].logprobs lacks tokens, token_logprobs "
                "or text_offset");
        return -1;
    }
    e->n = cJSON_GetArraySize(e->tokens);
    if (cJSON_GetArraySize(e->logprobs) != e->n || cJSON_GetArraySize(e->offsets) != e->n) {
        problem(why, "malformed response", "choices[0].logprobs arrays differ in length");
        return -1;
    }
    return 0;
}

/* lm-eval 0.4's greedy test (openai_completions.parse_logprobs): the token's logprob equals
   the largest value among its top_logprobs. */
static int top_is_token(const cJSON *top, double token_lp)
{
    if (!cJSON_IsObject(top)) return 0;
    const cJSON *best = NULL, *it;
    cJSON_ArrayForEach(it, top) {
        if (cJSON_IsNumber(it) && (!best || it->valuedouble > best->valuedouble)) best = it;
    }
    return best && token_lp >= best->valuedouble;
}

/* Token i's [start, end) in code points; -1 when the entries are not what they should be. */
static int token_span(const cJSON *tok, const cJSON *off, double *start, double *end)
{
    if (!cJSON_IsString(tok) || !cJSON_IsNumber(off) || off->valuedouble < 0) return -1;
    *start = off->valuedouble;
    const cJSON *next = off->next;
    if (cJSON_IsNumber(next)) *end = next->valuedouble;
    else *end = *start + (double)oai_utf8_codepoints(tok->valuestring, strlen(tok->valuestring));
    return 0;
}

/* Sum the logprobs of the tokens in the target span (see openai.h for the rules). */
static oai_verdict score_echo(const eval_request *r, const echo_lp *e, eval_response *out,
                              oai_problem *why)
{
    const char *ctx = r->context ? r->context : "";
    const char *cont = r->kind == REQ_LOGLIKELIHOOD && r->continuation ? r->continuation : "";
    double ctx_cp = (double)oai_utf8_codepoints(ctx, strlen(ctx));
    double full_cp = ctx_cp + (double)oai_utf8_codepoints(cont, strlen(cont));
    int rolling = r->kind == REQ_LOGLIKELIHOOD_ROLLING, greedy = 1, seen = 0;
    double sum = 0, start, end;
    const cJSON *tok = e->tokens->child, *lp = e->logprobs->child, *off = e->offsets->child;
    const cJSON *top = e->top ? e->top->child : NULL;
    for (; tok; tok = tok->next, lp = lp->next, off = off->next, top = top ? top->next : NULL) {
        if (token_span(tok, off, &start, &end) != 0) {
            problem(why, "malformed response", "a token or text_offset entry has the wrong type");
            return OAI_RETRY;
        }
        if (start >= full_cp || (!rolling && end <= ctx_cp)) continue;
        seen++;
        if (!cJSON_IsNumber(lp)) {
            if (rolling) continue; /* the first token has no logprob */
            problem(why, "unusable response", "server returned no logprob for a continuation token");
            return OAI_FAIL;
        }
        sum += lp->valuedouble;
        if (!top_is_token(top, lp->valuedouble)) greedy = 0;
    }
    if (seen == 0 && full_cp > (rolling ? 0 : ctx_cp)) {
        problem(why, "unusable response", "the echoed tokens do not cover the %s (does the "
                "server support echo=true?)", rolling ? "text" : "continuation");
        return OAI_FAIL;
    }
    out->logprob = sum;
    out->is_greedy = rolling ? 0 : greedy;
    return OAI_OK;
}

/* choices[0].text or choices[0].message.{content, reasoning_content|reasoning}, cut at stop. */
static oai_verdict read_text(const eval_request *r, int chat, const cJSON *choice,
                             eval_response *out, oai_problem *why)
{
    const cJSON *text, *reasoning = NULL;
    if (chat) {
        const cJSON *msg = cJSON_GetObjectItemCaseSensitive(choice, "message");
        if (!cJSON_IsObject(msg)) {
            problem(why, "malformed response", "no choices[0].message");
            return OAI_RETRY;
        }
        text = cJSON_GetObjectItemCaseSensitive(msg, "content");
        reasoning = cJSON_GetObjectItemCaseSensitive(msg, "reasoning_content");
        if (!cJSON_IsString(reasoning)) reasoning = cJSON_GetObjectItemCaseSensitive(msg, "reasoning");
    } else {
        text = cJSON_GetObjectItemCaseSensitive(choice, "text");
        if (!cJSON_IsString(text)) {
            problem(why, "malformed response", "no choices[0].text");
            return OAI_RETRY;
        }
    }
    const char *s = cJSON_IsString(text) ? text->valuestring : "";
    const cJSON *finish = cJSON_GetObjectItemCaseSensitive(choice, "finish_reason");
    out->truncated = cJSON_IsString(finish) && strcmp(finish->valuestring, "length") == 0;
    out->text = xstrndup(s, oai_cut_at_stop(s, strlen(s), r->gen.until, r->gen.n_until));
    if (reasoning && cJSON_IsString(reasoning)) out->reasoning = xstrdup(reasoning->valuestring);
    return OAI_OK;
}

/* A usage count: a number in [0, 2e9], else 0. */
static int usage_count(int is_number, double v)
{
    return is_number && v >= 0 && v <= 2e9 ? (int)v : 0;
}

static int usage_field(const cJSON *usage, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(usage, key);
    return usage_count(cJSON_IsNumber(v), cJSON_IsNumber(v) ? v->valuedouble : 0);
}

static const char *error_text(const cJSON *root)
{
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    const cJSON *m = cJSON_GetObjectItemCaseSensitive(e, "message");
    if (cJSON_IsString(m)) return m->valuestring;
    if (cJSON_IsString(e)) return e->valuestring;
    m = cJSON_GetObjectItemCaseSensitive(root, "message");
    if (cJSON_IsString(m)) return m->valuestring;
    m = cJSON_GetObjectItemCaseSensitive(root, "detail");
    if (cJSON_IsString(m)) return m->valuestring;
    return NULL;
}

/* The non-empty choices array of a parsed body, or NULL with why filled. */
static const cJSON *choices_of(const cJSON *root, oai_problem *why)
{
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(root, "choices");
    if (cJSON_IsArray(choices) && cJSON_IsObject(choices->child)) return choices;
    const cJSON *error = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (error && !cJSON_IsNull(error)) {
        const char *text = error_text(root);
        char *msg = text ? clean_excerpt(text, strlen(text), 300) : xstrdup("(no message)");
        problem(why, "error response", "%s", msg);
        free(msg);
    } else {
        problem(why, "malformed response", "no choices[0]");
    }
    return NULL;
}

/* Read one choice for request r into *out (left alone unless OAI_OK). */
static oai_verdict parse_choice(const eval_request *r, int chat, const cJSON *choice,
                                eval_response *out, oai_problem *why)
{
    eval_response res = *out;
    oai_verdict v = OAI_RETRY;
    if (r->kind == REQ_GENERATE) {
        v = read_text(r, chat, choice, &res, why);
    } else {
        echo_lp e;
        if (get_echo_lp(choice, &e, why) == 0) v = score_echo(r, &e, &res, why);
    }
    if (v == OAI_OK) {
        res.status = RESP_OK;
        *out = res;
    }
    return v;
}

static size_t prompt_bytes(const eval_request *r)
{
    size_t n = r->context ? strlen(r->context) : 0;
    if (r->kind == REQ_LOGLIKELIHOOD && r->continuation) n += strlen(r->continuation);
    return n;
}

/* Give each answered request of a batch its share of the usage totals pt and ct, in
   proportion to its prompt's bytes and its answer's bytes (largest share first absorbs the
   rounding), so the shares add up to the totals. */
static void share_usage(const eval_request *reqs, const size_t *idx, size_t n, eval_response *resps,
                        const oai_verdict *each, int pt, int ct)
{
    double wp = 0, wc = 0;
    for (size_t k = 0; k < n; k++) {
        if (each[k] != OAI_OK) continue;
        const eval_response *r = &resps[idx[k]];
        wp += (double)prompt_bytes(&reqs[idx[k]]) + 1;
        wc += (double)(r->text ? strlen(r->text) : 0) + 1;
    }
    int left_p = pt, left_c = ct;
    eval_response *first = NULL;
    for (size_t k = 0; k < n; k++) {
        if (each[k] != OAI_OK) continue;
        eval_response *r = &resps[idx[k]];
        if (!first) first = r;
        r->prompt_tokens = (int)((double)pt * ((double)prompt_bytes(&reqs[idx[k]]) + 1) / wp);
        r->completion_tokens = (int)((double)ct * ((double)(r->text ? strlen(r->text) : 0) + 1) / wc);
        left_p -= r->prompt_tokens;
        left_c -= r->completion_tokens;
    }
    if (first) {
        first->prompt_tokens += left_p;
        first->completion_tokens += left_c;
    }
}

/* Requests no choice answered: retried, with that message. */
static void mark_missing(size_t n, const unsigned char *seen, oai_verdict *each, oai_problem *why)
{
    for (size_t k = 0; k < n; k++) {
        if (seen[k]) continue;
        each[k] = OAI_RETRY;
        problem(&why[k], "malformed response", "no choice with index %zu", k);
    }
}

/* The request a choice at position pos with that index answers (n: none); as in
   parse_choices. */
static size_t choice_slot(size_t pos, size_t n, int has_index, double index)
{
    if (n > 1 && has_index && index >= 0) return index < (double)n ? (size_t)index : n;
    return pos;
}

/* read_text and parse_choice for a choice of answer_scan (a /v1/completions generation). */
static oai_verdict read_scanned(const eval_request *r, const scan_choice *c, const char *strings,
                                eval_response *out, oai_problem *why)
{
    if (!c->has_text) {
        problem(why, "malformed response", "no choices[0].text");
        return OAI_RETRY;
    }
    const char *s = strings + c->text_off;
    out->truncated = c->finish_length;
    out->text = xstrndup(s, oai_cut_at_stop(s, c->text_len, r->gen.until, r->gen.n_until));
    out->status = RESP_OK;
    return OAI_OK;
}

/* oai_parse_batch for an answer answer_scan read. */
static void parse_scanned(const eval_request *reqs, const size_t *idx, size_t n, const scan_answer *a,
                          eval_response *resps, oai_verdict *each, oai_problem *why, unsigned char *seen)
{
    for (size_t pos = 0; pos < a->n_choices; pos++) {
        const scan_choice *c = &a->choices[pos];
        size_t k = choice_slot(pos, n, c->has_index, c->index);
        if (k >= n || seen[k] || !c->is_object) continue;
        seen[k] = 1;
        each[k] = read_scanned(&reqs[idx[k]], c, a->strings.data, &resps[idx[k]], &why[k]);
    }
    mark_missing(n, seen, each, why);
    share_usage(reqs, idx, n, resps, each, usage_count(a->has_pt, a->pt), usage_count(a->has_ct, a->ct));
}

/* Whether answer_scan may read the answer: plain generations on /v1/completions. */
static int scannable(const eval_request *reqs, const size_t *idx, size_t n, int chat)
{
    if (chat) return 0;
    for (size_t k = 0; k < n; k++)
        if (reqs[idx[k]].kind != REQ_GENERATE) return 0;
    return 1;
}

/* Match the choices to the n requests and parse each; see oai_parse_batch. */
static void parse_choices(const eval_request *reqs, const size_t *idx, size_t n, int chat,
                          const cJSON *choices, eval_response *resps, oai_verdict *each,
                          oai_problem *why, unsigned char *seen)
{
    size_t pos = 0;
    for (const cJSON *c = choices->child; c; c = c->next, pos++) {
        const cJSON *index = cJSON_GetObjectItemCaseSensitive(c, "index");
        int has_index = cJSON_IsNumber(index);
        size_t k = choice_slot(pos, n, has_index, has_index ? index->valuedouble : 0);
        if (k >= n || seen[k] || !cJSON_IsObject(c)) continue;
        seen[k] = 1;
        each[k] = parse_choice(&reqs[idx[k]], chat, c, &resps[idx[k]], &why[k]);
    }
    mark_missing(n, seen, each, why);
}

oai_verdict oai_parse_batch(const eval_request *reqs, const size_t *idx, size_t n, int chat,
                            const char *body, size_t len, eval_response *resps, oai_verdict *each,
                            oai_problem *why)
{
    if (scannable(reqs, idx, n, chat)) { /* the common case without cJSON's allocations */
        scan_answer a;
        int read = answer_scan(&a, body, len);
        if (read) {
            unsigned char small[64], *seen = n <= sizeof small ? small : xmalloc(n);
            memset(seen, 0, n);
            parse_scanned(reqs, idx, n, &a, resps, each, why, seen);
            if (seen != small) free(seen);
        }
        answer_scan_free(&a);
        if (read) return OAI_OK;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        char *excerpt = clean_excerpt(body, len, OAI_BODY_EXCERPT);
        problem(why, "non-JSON response", "%s", len ? excerpt : "(empty body)");
        free(excerpt);
        cJSON_Delete(root);
        return OAI_RETRY;
    }
    const cJSON *choices = choices_of(root, why);
    if (!choices) {
        cJSON_Delete(root);
        return OAI_RETRY;
    }
    unsigned char small[64], *seen = n <= sizeof small ? small : xmalloc(n);
    memset(seen, 0, n);
    parse_choices(reqs, idx, n, chat, choices, resps, each, why, seen);
    if (seen != small) free(seen);
    const cJSON *usage = cJSON_GetObjectItemCaseSensitive(root, "usage");
    share_usage(reqs, idx, n, resps, each, usage_field(usage, "prompt_tokens"),
                usage_field(usage, "completion_tokens"));
    cJSON_Delete(root);
    return OAI_OK;
}

oai_verdict oai_parse_response(const eval_request *r, int chat, const char *body, size_t len,
                               eval_response *out, oai_problem *why)
{
    size_t idx = 0;
    oai_verdict each;
    eval_response res = *out;
    oai_verdict v = oai_parse_batch(r, &idx, 1, chat, body, len, &res, &each, why);
    if (v != OAI_OK) return v;
    if (each == OAI_OK) *out = res;
    return each;
}

/* Case-insensitive: does s contain any of the NULL-terminated needles? */
static int mentions(const char *s, const char *const *needles)
{
    for (const char *p = s; p && *p; p++)
        for (size_t i = 0; needles[i]; i++)
            if (strncasecmp(p, needles[i], strlen(needles[i])) == 0) return 1;
    return 0;
}

int oai_is_context_error(const char *msg)
{
    static const char *const needles[] = {"context length", "context window", "max_model_len",
                                          "too many tokens", "prompt is too long",
                                          "maximum context", "exceeds the model", NULL};
    return mentions(msg, needles);
}

int oai_is_logprobs_error(const char *msg)
{
    static const char *const needles[] = {"logprobs", "echo", NULL};
    return mentions(msg, needles);
}

/* ---- server error text and headers -------------------------------------------------- */

char *oai_server_message(const char *body, size_t len, size_t max)
{
    cJSON *root = body && len ? cJSON_ParseWithLength(body, len) : NULL;
    const char *msg = cJSON_IsObject(root) ? error_text(root) : NULL;
    char *out = msg ? clean_excerpt(msg, strlen(msg), max)
                    : clean_excerpt(body ? body : "", body ? len : 0, max);
    cJSON_Delete(root);
    return out;
}

/* An HTTP-date (IMF-fixdate, or the obsolete RFC 850 and asctime forms that curl_getdate
   also reads) as seconds from now; 0 when it is not a date. */
static int retry_after_date(const char *v, size_t n, double *seconds)
{
    char tmp[64];
    if (n == 0 || n >= sizeof tmp) return 0;
    memcpy(tmp, v, n);
    tmp[n] = '\0';
    time_t when = curl_getdate(tmp, NULL);
    if (when == (time_t)-1) return 0;
    double left = difftime(when, time(NULL));
    *seconds = left > 0 ? left : 0;
    return 1;
}

int oai_retry_after(const char *line, size_t n, double *seconds)
{
    static const char name[] = "retry-after:";
    size_t k = sizeof name - 1;
    if (n < k || strncasecmp(line, name, k) != 0) return 0;
    size_t i = k, end = n;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
    while (end > i && isspace((unsigned char)line[end - 1])) end--;
    char tmp[32];
    size_t j = 0;
    for (; i + j < end && j + 1 < sizeof tmp; j++) {
        char ch = line[i + j];
        if (!isdigit((unsigned char)ch) && ch != '.') break;
        tmp[j] = ch;
    }
    tmp[j] = '\0';
    if (i + j != end) return retry_after_date(line + i, end - i, seconds); /* not a number */
    if (j == 0) return 0;
    char *stop;
    double v = strtod(tmp, &stop);
    if (*stop != '\0' || !isfinite(v) || v < 0) return 0;
    *seconds = v;
    return 1;
}
