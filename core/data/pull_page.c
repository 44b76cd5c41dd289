/* pull_page.c — one page of the datasets-server rows API: validated with cJSON, each `row`
 * kept as the exact bytes the server sent (so numbers and escapes are never re-printed),
 * and the message of an error body. */
#include "pull.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "util/buf.h"

/* ---- a minimal scanner over JSON text that cJSON has already validated ------------------ */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    return p;
}

/* p at '"': the byte after the closing quote. */
static const char *skip_string(const char *p, const char *end)
{
    for (p++; p < end; p++) {
        if (*p == '\\') p++;
        else if (*p == '"') return p + 1;
    }
    return end;
}

/* p at the start of any value: the byte after it. */
static const char *skip_value(const char *p, const char *end)
{
    if (p >= end) return end;
    if (*p == '"') return skip_string(p, end);
    if (*p != '{' && *p != '[') {
        while (p < end && !strchr(",]} \t\r\n", *p)) p++;
        return p;
    }
    int depth = 0;
    while (p < end) {
        if (*p == '"') {
            p = skip_string(p, end);
            continue;
        }
        if (*p == '{' || *p == '[') depth++;
        else if ((*p == '}' || *p == ']') && --depth == 0) return p + 1;
        p++;
    }
    return end;
}

/* Whether the string token at p (at '"') is exactly "name". */
static int key_is(const char *p, const char *end, const char *name)
{
    size_t n = strlen(name);
    return end - p >= (ptrdiff_t)n + 2 && p[n + 1] == '"' && memcmp(p + 1, name, n) == 0;
}

/* p at '{': find member `name` and return its value's start (end when absent). */
static const char *member(const char *p, const char *end, const char *name)
{
    p = skip_ws(p + 1, end);
    while (p < end && *p == '"') {
        int hit = key_is(p, end, name);
        p = skip_ws(skip_string(p, end), end);
        if (p < end && *p == ':') p = skip_ws(p + 1, end);
        if (hit) return p;
        p = skip_ws(skip_value(p, end), end);
        if (p < end && *p == ',') p = skip_ws(p + 1, end);
    }
    return end;
}

/* Append each rows[i].row of the body as one line (its own bytes, or cJSON's compact print
   when they span lines). */
static void append_rows(const char *body, size_t len, const cJSON *rows, buf *out)
{
    const char *end = body + len;
    const char *p = skip_ws(body, end);
    p = member(p, end, "rows");
    if (p < end && *p == '[') p = skip_ws(p + 1, end);
    const cJSON *item = rows ? rows->child : NULL;
    for (; item; item = item->next) {
        const char *row = p < end && *p == '{' ? member(p, end, "row") : end;
        const char *row_end = skip_value(row, end);
        if (row < end && *row == '{' && !memchr(row, '\n', (size_t)(row_end - row)) &&
            !memchr(row, '\r', (size_t)(row_end - row))) {
            buf_append(out, row, (size_t)(row_end - row));
        } else {
            char *s = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(item, "row"));
            buf_puts(out, s ? s : "{}");
            free(s);
        }
        buf_putc(out, '\n');
        p = skip_ws(skip_value(p, end), end);
        if (p < end && *p == ',') p = skip_ws(p + 1, end);
    }
}

/* ---- validation ------------------------------------------------------------------------- */

/* Check every row's shape and row_idx (offset, offset + 1, ...); count truncated rows. */
static int check_rows(const cJSON *rows, size_t offset, pull_page *page, char *err, size_t errlen)
{
    size_t i = 0;
    for (const cJSON *item = rows->child; item; item = item->next, i++) {
        const cJSON *idx = cJSON_GetObjectItemCaseSensitive(item, "row_idx");
        const cJSON *row = cJSON_GetObjectItemCaseSensitive(item, "row");
        if (!cJSON_IsObject(item) || !cJSON_IsObject(row))
            return errf(err, errlen, "rows[%zu] has no \"row\" object", i);
        if (!cJSON_IsNumber(idx) || idx->valuedouble != (double)(offset + i))
            return errf(err, errlen, "rows[%zu] has row_idx %s, expected %zu", i,
                        cJSON_IsNumber(idx) ? "out of sequence" : "missing", offset + i);
        const cJSON *cut = cJSON_GetObjectItemCaseSensitive(item, "truncated_cells");
        if (cJSON_IsArray(cut) && cJSON_GetArraySize(cut) > 0) page->truncated++;
    }
    page->n_rows = i;
    page->first_idx = i ? (long long)offset : -1;
    return 0;
}

int pull_page_parse(const char *body, size_t len, size_t offset, pull_page *page, char *err,
                    size_t errlen)
{
    memset(page, 0, sizeof *page);
    page->total = -1;
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!root || !cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return errf(err, errlen, "the reply is not a JSON object");
    }
    const cJSON *rows = cJSON_GetObjectItemCaseSensitive(root, "rows");
    const cJSON *total = cJSON_GetObjectItemCaseSensitive(root, "num_rows_total");
    int rc = 0;
    if (!cJSON_IsArray(rows)) rc = errf(err, errlen, "the reply has no \"rows\" array");
    else if (!cJSON_IsNumber(total) || total->valuedouble < 0)
        rc = errf(err, errlen, "the reply has no \"num_rows_total\"");
    else rc = check_rows(rows, offset, page, err, errlen);
    if (rc == 0) {
        page->total = (long long)total->valuedouble;
        page->partial = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(root, "partial"));
        buf out = {0};
        append_rows(body, len, rows, &out);
        page->lines_len = out.len;
        page->lines = buf_steal(&out);
    }
    cJSON_Delete(root);
    return rc;
}

void pull_page_free(pull_page *page)
{
    free(page->lines);
    page->lines = NULL;
    page->lines_len = 0;
}

/* The first max bytes of s, control characters replaced by spaces. */
static char *printable_prefix(const char *s, size_t len, size_t max)
{
    buf out = {0};
    for (size_t i = 0; i < len && i < max; i++)
        buf_putc(&out, iscntrl((unsigned char)s[i]) ? ' ' : s[i]);
    if (len > max) buf_puts(&out, "...");
    return buf_steal(&out);
}

char *pull_server_message(const char *body, size_t len)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *e = cJSON_GetObjectItemCaseSensitive(root, "error");
    if (cJSON_IsObject(e)) e = cJSON_GetObjectItemCaseSensitive(e, "message");
    char *msg = NULL;
    if (cJSON_IsString(e) && e->valuestring[0])
        msg = printable_prefix(e->valuestring, strlen(e->valuestring), 400);
    cJSON_Delete(root);
    if (!msg) msg = len ? printable_prefix(body, len, 200) : xstrdup("(empty reply)");
    return msg;
}
