/* chat_template.c — chat formats recognised by their markers, rendered by C code. */
#include "native/chat_template.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* One message of a chat, pointing into the parsed JSON. */
typedef struct chat_msg {
    const char *role;
    const char *content;
} chat_msg;

/* ---- detection ----------------------------------------------------------------------- */

/* 1 when every "[/INST]" in tmpl follows a quote rather than a space (Mistral v3). */
static int mistral_is_v3(const char *tmpl)
{
    int seen = 0;
    for (const char *p = strstr(tmpl, "[/INST]"); p; p = strstr(p + 1, "[/INST]")) {
        if (p > tmpl && p[-1] == ' ') return 0;
        seen = 1;
    }
    return seen;
}

chat_format chat_detect(const char *tmpl)
{
    if (!tmpl) return CHAT_UNKNOWN;
    if (strstr(tmpl, "<|im_start|>")) return CHAT_CHATML;
    if (strstr(tmpl, "<|start_header_id|>") && strstr(tmpl, "<|eot_id|>")) return CHAT_LLAMA3;
    if (strstr(tmpl, "[INST]") && !strstr(tmpl, "<<SYS>>"))
        return mistral_is_v3(tmpl) ? CHAT_MISTRAL_V3 : CHAT_MISTRAL;
    return CHAT_UNKNOWN;
}

const char *chat_format_name(chat_format f)
{
    switch (f) {
    case CHAT_CHATML: return "chatml";
    case CHAT_LLAMA3: return "llama3";
    case CHAT_MISTRAL: return "mistral";
    case CHAT_MISTRAL_V3: return "mistral-v3";
    case CHAT_UNKNOWN: break;
    }
    return "unknown";
}

const char *chat_supported_formats(void)
{
    return "chatml (<|im_start|>), llama3 (<|start_header_id|>), mistral ([INST])";
}

/* The built-in system message of a ChatML template: the text between a literal
   "<|im_start|>system" + newline (real or written "\n") and "<|im_end|>", when no quote
   interrupts it (a quote means the template splices in a variable instead). */
static char *chatml_default_system(const char *tmpl)
{
    static const char open[] = "<|im_start|>system";
    for (const char *p = strstr(tmpl, open); p; p = strstr(p + 1, open)) {
        const char *s = p + strlen(open);
        if (*s == '\n') s++;
        else if (s[0] == '\\' && s[1] == 'n') s += 2;
        else continue;
        const char *e = strstr(s, "<|im_end|>");
        if (!e || e == s) continue;
        size_t n = (size_t)(e - s);
        if (memchr(s, '\'', n) || memchr(s, '"', n)) continue;
        buf out = {0};
        for (size_t i = 0; i < n; i++) {          /* undo Jinja escapes of \n and \\ */
            if (s[i] == '\\' && i + 1 < n && (s[i + 1] == 'n' || s[i + 1] == '\\')) {
                buf_putc(&out, s[i + 1] == 'n' ? '\n' : '\\');
                i++;
            } else {
                buf_putc(&out, s[i]);
            }
        }
        return buf_steal(&out);
    }
    return NULL;
}

chat_template *chat_template_new(const char *tmpl, const char *bos, const char *eos,
                                 const char *model_path, char *err, size_t errlen)
{
    chat_format f = chat_detect(tmpl);
    if (f == CHAT_UNKNOWN) {
        errf(err, errlen, "%s: %s (supported: %s)", model_path ? model_path : "model",
             tmpl ? "chat template not recognised" : "no chat template (tokenizer.chat_template)",
             chat_supported_formats());
        return NULL;
    }
    chat_template *t = xcalloc(1, sizeof *t);
    t->format = f;
    t->default_system = f == CHAT_CHATML ? chatml_default_system(tmpl) : NULL;
    t->bos = xstrdup(bos ? bos : "");
    t->eos = xstrdup(eos ? eos : "");
    return t;
}

void chat_template_free(chat_template *t)
{
    if (!t) return;
    free(t->default_system);
    free(t->bos);
    free(t->eos);
    free(t);
}

/* ---- rendering ----------------------------------------------------------------------- */

/* Append s without leading and trailing whitespace (Jinja's |trim). */
static void put_trimmed(buf *out, const char *s)
{
    size_t n = strlen(s);
    while (n && strchr(" \t\n\r\f\v", *s)) s++, n--;
    while (n && strchr(" \t\n\r\f\v", s[n - 1])) n--;
    buf_append(out, s, n);
}

static void render_chatml(const chat_template *t, const chat_msg *m, size_t n, buf *out)
{
    if (t->default_system && (n == 0 || strcmp(m[0].role, "system") != 0))
        buf_printf(out, "<|im_start|>system\n%s<|im_end|>\n", t->default_system);
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "<|im_start|>%s\n%s<|im_end|>\n", m[i].role, m[i].content);
    buf_puts(out, "<|im_start|>assistant\n");
}

static void render_llama3(const chat_template *t, const chat_msg *m, size_t n, buf *out)
{
    if (n) buf_puts(out, t->bos);             /* the template adds it to the first turn */
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "<|start_header_id|>%s<|end_header_id|>\n\n", m[i].role);
        put_trimmed(out, m[i].content);
        buf_puts(out, "<|eot_id|>");
    }
    buf_puts(out, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

/* The index of the user message that carries the system text in a Mistral layout. */
static size_t mistral_system_slot(const chat_msg *m, size_t n, int v3)
{
    size_t slot = n;
    for (size_t i = 1; i < n; i++) {
        if (strcmp(m[i].role, "user") != 0) continue;
        slot = i;
        if (!v3) break;
    }
    return slot;
}

static int render_mistral(const chat_template *t, const chat_msg *m, size_t n, buf *out,
                          char *err, size_t errlen)
{
    const int v3 = t->format == CHAT_MISTRAL_V3;
    const int has_sys = n > 0 && strcmp(m[0].role, "system") == 0;
    const size_t slot = has_sys ? mistral_system_slot(m, n, v3) : n;
    if (has_sys && slot == n)
        return errf(err, errlen, "a system message needs a user message after it (mistral)");
    buf_puts(out, t->bos);
    for (size_t i = has_sys ? 1 : 0; i < n; i++) {
        if (strcmp(m[i].role, "user") == 0) {
            buf_puts(out, "[INST] ");
            if (i == slot) buf_printf(out, "%s\n\n", m[0].content);
            buf_printf(out, "%s%s", m[i].content, v3 ? "[/INST]" : " [/INST]");
        } else if (strcmp(m[i].role, "assistant") == 0) {
            if (v3) {
                buf_putc(out, ' ');
                put_trimmed(out, m[i].content);
            } else {
                buf_puts(out, m[i].content);
            }
            buf_puts(out, t->eos);
        } else {
            return errf(err, errlen, "message %zu: role '%s' is not supported by the mistral "
                        "format (system first, then user/assistant)", i, m[i].role);
        }
    }
    return 0;
}

/* Parse messages_json into msgs (pointing into *root, which the caller deletes). */
static chat_msg *parse_messages(const char *json, cJSON **root, size_t *n, char *err,
                                size_t errlen)
{
    *root = cJSON_Parse(json ? json : "");
    if (!cJSON_IsArray(*root)) {
        errf(err, errlen, "messages must be a JSON array of {role, content} objects");
        return NULL;
    }
    size_t count = (size_t)cJSON_GetArraySize(*root), i = 0;
    chat_msg *msgs = xcalloc(count + 1, sizeof *msgs);
    const cJSON *it;
    cJSON_ArrayForEach(it, *root) {
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(it, "role");
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!cJSON_IsString(role) || !(cJSON_IsString(content) || cJSON_IsNull(content))) {
            errf(err, errlen, "message %zu: needs a string \"role\" and a string \"content\"", i);
            free(msgs);
            return NULL;
        }
        msgs[i].role = role->valuestring;
        msgs[i].content = cJSON_IsString(content) ? content->valuestring : "";
        i++;
    }
    *n = count;
    return msgs;
}

char *chat_render(const chat_template *t, const char *messages_json, char *err, size_t errlen)
{
    cJSON *root = NULL;
    size_t n = 0;
    chat_msg *msgs = parse_messages(messages_json, &root, &n, err, errlen);
    char *result = NULL;
    buf out = {0};
    if (!msgs) goto cleanup;
    switch (t->format) {
    case CHAT_CHATML: render_chatml(t, msgs, n, &out); break;
    case CHAT_LLAMA3: render_llama3(t, msgs, n, &out); break;
    case CHAT_MISTRAL:
    case CHAT_MISTRAL_V3:
        if (render_mistral(t, msgs, n, &out, err, errlen) < 0) goto cleanup;
        break;
    case CHAT_UNKNOWN:
        errf(err, errlen, "chat format not recognised");
        goto cleanup;
    }
    result = buf_steal(&out);
cleanup:
    buf_free(&out);
    free(msgs);
    cJSON_Delete(root);
    return result;
}
