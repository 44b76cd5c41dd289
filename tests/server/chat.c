/* chat.c — POST /v1/chat/completions: rule text for the last user message. */
#include "fake_openai.h"

#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

typedef struct chat_req {
    cJSON *root;
    buf all_content;   /* every message's content, concatenated in order */
    char *last_user;   /* content of the last "user" message ("" when none) */
    long max_tokens;   /* < 0: unlimited */
    fo_stops stops;
} chat_req;

/* Append a message's content: a string, null, or a list of {"type":"text","text":...} parts
 * (parts of other types are skipped). */
static int append_content(buf *out, const cJSON *content, char *err, size_t errlen)
{
    if (!content || cJSON_IsNull(content)) return 0;
    if (cJSON_IsString(content)) {
        buf_puts(out, content->valuestring);
        return 0;
    }
    if (!cJSON_IsArray(content))
        return errf(err, errlen, "message 'content' must be a string, a list of parts or null");
    const cJSON *part;
    cJSON_ArrayForEach(part, content) {
        const cJSON *type = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "type") : NULL;
        const cJSON *text = type ? cJSON_GetObjectItemCaseSensitive(part, "text") : NULL;
        if (!cJSON_IsString(type))
            return errf(err, errlen, "content parts must be objects with a string 'type'");
        if (strcmp(type->valuestring, "text") != 0) continue;
        if (!cJSON_IsString(text)) return errf(err, errlen, "a text content part needs a string 'text'");
        buf_puts(out, text->valuestring);
    }
    return 0;
}

static int parse_message(chat_req *q, const cJSON *msg, char *err, size_t errlen)
{
    const cJSON *role = cJSON_IsObject(msg) ? cJSON_GetObjectItemCaseSensitive(msg, "role") : NULL;
    if (!cJSON_IsString(role))
        return errf(err, errlen, "each message must be an object with a string 'role'");
    buf content = {0};
    int rc = append_content(&content, cJSON_GetObjectItemCaseSensitive(msg, "content"), err, errlen);
    if (rc == 0) {
        buf_append(&q->all_content, buf_str(&content), content.len);
        if (strcmp(role->valuestring, "user") == 0) {
            free(q->last_user);
            q->last_user = buf_steal(&content);
        }
    }
    buf_free(&content);
    return rc;
}

static int parse_messages(chat_req *q, char *err, size_t errlen)
{
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(q->root, "messages");
    if (!cJSON_IsArray(msgs) || cJSON_GetArraySize(msgs) == 0)
        return errf(err, errlen, "'messages' is required and must be a non-empty list");
    const cJSON *msg;
    cJSON_ArrayForEach(msg, msgs) {
        if (parse_message(q, msg, err, errlen)) return -1;
    }
    if (!q->last_user) q->last_user = xstrdup("");
    return 0;
}

static int parse_request(chat_req *q, const char *body, char *err, size_t errlen)
{
    memset(q, 0, sizeof *q);
    q->root = cJSON_Parse(body);
    if (!cJSON_IsObject(q->root)) return errf(err, errlen, "request body is not a JSON object");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(q->root, "model");
    if (model && !cJSON_IsString(model)) return errf(err, errlen, "'model' must be a string");
    long max_tokens;
    if (parse_messages(q, err, errlen) ||
        fo_parse_max_tokens(q->root, "max_tokens", -1, &max_tokens, err, errlen) ||
        fo_parse_max_tokens(q->root, "max_completion_tokens", max_tokens, &q->max_tokens, err, errlen))
        return -1;
    return fo_stops_parse(&q->stops, q->root, err, errlen);
}

static cJSON *message_new(const char *content, const fo_rule *rule)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "role", "assistant");
    if (rule && rule->text_null) cJSON_AddNullToObject(m, "content");
    else cJSON_AddStringToObject(m, "content", content);
    if (rule && rule->reasoning) cJSON_AddStringToObject(m, "reasoning_content", rule->reasoning);
    return m;
}

static cJSON *response_new(const fo_server *srv, const chat_req *q, long n)
{
    const fo_rule *rule;
    fo_gen g;
    fo_generate(fo_generated_source(srv, q->last_user, &rule), q->max_tokens, &q->stops, &g);
    char id[48];
    snprintf(id, sizeof id, "chatcmpl-%ld", n);
    cJSON *res = cJSON_CreateObject();
    cJSON_AddStringToObject(res, "id", id);
    cJSON_AddStringToObject(res, "object", "chat.completion");
    cJSON_AddNumberToObject(res, "created", 0);
    cJSON_AddStringToObject(res, "model", srv->model);
    cJSON *choice = cJSON_CreateObject();
    cJSON_AddNumberToObject(choice, "index", 0);
    cJSON_AddItemToObject(choice, "message", message_new(g.text, rule));
    cJSON_AddStringToObject(choice, "finish_reason", g.finish);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(res, "choices"), choice);
    size_t pt = fo_token_count(buf_str(&q->all_content), q->all_content.len);
    size_t ct = fo_token_count(g.text, g.len);
    cJSON *usage = cJSON_AddObjectToObject(res, "usage");
    cJSON_AddNumberToObject(usage, "prompt_tokens", (double)pt);
    cJSON_AddNumberToObject(usage, "completion_tokens", (double)ct);
    cJSON_AddNumberToObject(usage, "total_tokens", (double)(pt + ct));
    free(g.text);
    return res;
}

void fo_handle_chat(const fo_server *srv, const char *body, long n, fo_reply *r)
{
    chat_req q;
    char err[256];
    if (parse_request(&q, body, err, sizeof err)) {
        fo_reply_error(r, 400, "invalid_request_error", err);
    } else if (fo_context_check(srv, fo_token_count(buf_str(&q.all_content), q.all_content.len),
                                q.max_tokens, r)) {
        /* r holds the 400 */
    } else {
        cJSON *res = response_new(srv, &q, n);
        fo_reply_json(r, res);
        cJSON_Delete(res);
    }
    fo_stops_free(&q.stops);
    buf_free(&q.all_content);
    free(q.last_user);
    cJSON_Delete(q.root);
}
