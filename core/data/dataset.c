/* dataset.c — find a split's data file in the hub layout and read it into an array of
 * document objects: JSON Lines, JSON, CSV and TSV, each optionally gzip'd. */
#include "dataset.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <zlib.h>

#include "util/buf.h"

static const char *const dataset_exts[] = {
    ".jsonl", ".jsonl.gz", ".json", ".json.gz", ".csv", ".csv.gz", ".tsv", ".tsv.gz",
};
#define N_EXTS (sizeof dataset_exts / sizeof dataset_exts[0])

static cJSON *need(cJSON *p)
{
    if (!p) {
        fputs("evallua: out of memory\n", stderr);
        abort();
    }
    return p;
}

/* ---- finding a split ----------------------------------------------------------------- */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Length of the data-type extension ending name (".jsonl.gz" → 9), 0 when none. */
static size_t data_ext_len(const char *name)
{
    size_t n = strlen(name), best = 0;
    for (size_t i = 0; i < N_EXTS; i++) {
        size_t e = strlen(dataset_exts[i]);
        if (n > e && e > best && strcmp(name + n - e, dataset_exts[i]) == 0) best = e;
    }
    return best;
}

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Append ", "-separated sorted names in dir: data files' base names (want_dirs 0) or
 * sub-folders (want_dirs 1). Returns how many. */
static size_t list_dir(const char *dir, int want_dirs, buf *out)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    char **names = NULL;
    size_t n = 0, cap = 0;
    buf full = {0};
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        buf_clear(&full);
        buf_printf(&full, "%s/%s", dir, e->d_name);
        size_t ext = want_dirs ? 0 : data_ext_len(e->d_name);
        if (want_dirs ? !is_dir(full.data) : (ext == 0 || !is_file(full.data))) continue;
        if (n == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
        names[n++] = xstrndup(e->d_name, strlen(e->d_name) - ext);
    }
    closedir(d);
    buf_free(&full);
    if (n) qsort(names, n, sizeof *names, str_cmp);
    size_t shown = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(names[i], names[i - 1]) != 0) /* test.jsonl + test.csv: once */
            buf_printf(out, "%s%s", shown++ ? ", " : "", names[i]);
    for (size_t i = 0; i < n; i++) free(names[i]);
    free(names);
    return shown;
}

/* The "not found" message, with what does exist nearby. */
static int find_failed(const char *dir, const char *id, const char *config, const char *split,
                       const char *base, char *err, size_t errlen)
{
    buf msg = {0}, folder = {0};
    buf_printf(&msg, "no file for split '%s' of %s (config %s): expected %s.jsonl "
               "(or .jsonl.gz, .json, .csv, .tsv)", split, id, config, base);
    buf_printf(&folder, "%s/%s/%s", dir, id, config);
    if (is_dir(folder.data)) {
        buf names = {0};
        if (list_dir(folder.data, 0, &names)) buf_printf(&msg, "; splits there: %s", names.data);
        else buf_printf(&msg, "; %s holds no data files", folder.data);
        buf_free(&names);
    } else {
        buf_clear(&folder);
        buf_printf(&folder, "%s/%s", dir, id);
        buf names = {0};
        if (is_dir(folder.data) && list_dir(folder.data, 1, &names))
            buf_printf(&msg, "; configs there: %s", names.data);
        else if (!is_dir(dir))
            buf_printf(&msg, "; the data folder %s does not exist", dir);
        buf_free(&names);
    }
    errf(err, errlen, "%s", msg.data);
    buf_free(&msg);
    buf_free(&folder);
    return -1;
}

int dataset_find(const char *data_dir, const char *id, const char *config, const char *split,
                 char *path, size_t pathlen, char *err, size_t errlen)
{
    if (!config || !*config) config = "default";
    size_t dlen = strlen(data_dir);
    while (dlen > 1 && data_dir[dlen - 1] == '/') dlen--;
    char *dir = xstrndup(data_dir, dlen);
    buf base = {0}, try = {0};
    buf_printf(&base, "%s/%s/%s/%s", dir, id, config, split);
    int rc = -1;
    for (size_t i = 0; i < N_EXTS; i++) {
        buf_clear(&try);
        buf_printf(&try, "%s%s", base.data, dataset_exts[i]);
        if (!is_file(try.data)) continue;
        if (try.len >= pathlen) {
            errf(err, errlen, "path too long: %s", try.data);
            goto cleanup;
        }
        memcpy(path, try.data, try.len + 1);
        rc = 0;
        goto cleanup;
    }
    find_failed(dir, id, config, split, base.data, err, errlen);
cleanup:
    free(dir);
    buf_free(&base);
    buf_free(&try);
    return rc;
}

/* ---- reading the bytes ----------------------------------------------------------------- */

/* The whole file into b, decompressing gzip (zlib reads plain files as they are). */
static int read_bytes(const char *path, buf *b, char *err, size_t errlen)
{
    errno = 0;
    gzFile f = gzopen(path, "rb");
    if (!f) return errf(err, errlen, "cannot read %s: %s", path, strerror(errno ? errno : ENOMEM));
    gzbuffer(f, 1 << 17);
    char chunk[1 << 16];
    int n;
    while ((n = gzread(f, chunk, sizeof chunk)) > 0) buf_append(b, chunk, (size_t)n);
    int zerr = Z_OK;
    const char *msg = gzerror(f, &zerr);
    int saved = errno;
    if (n < 0 || (zerr != Z_OK && zerr != Z_STREAM_END)) {
        errf(err, errlen, "cannot read %s: %s", path, zerr == Z_ERRNO ? strerror(saved) : msg);
        gzclose(f);
        return -1;
    }
    gzclose(f);
    return 0;
}

/* ---- JSON Lines and JSON --------------------------------------------------------------- */

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Parse [s, s+n) as one JSON value with nothing after it but whitespace; on failure
 * *errpos is the 0-based offset of the problem. */
static cJSON *parse_exact(const char *s, size_t n, size_t *errpos)
{
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(s, n, &end, 0);
    if (v && end) {
        while (end < s + n && is_json_space(*end)) end++;
        if (end < s + n) {
            cJSON_Delete(v);
            v = NULL;
        }
    }
    if (!v) *errpos = end && end >= s ? (size_t)(end - s) : 0;
    return v;
}

/* Parse one line [line, eol) of a JSON Lines file into docs; blank lines are skipped. */
static int jsonl_line(cJSON *docs, char *line, char *eol, const char *path, size_t lineno,
                      char *err, size_t errlen)
{
    char *s = line, *e = eol;
    while (e > s && is_json_space(e[-1])) e--;
    while (s < e && is_json_space(*s)) s++;
    if (s == e) return 0;
    *e = '\0'; /* the byte after the value is whitespace or the buffer's NUL */
    size_t pos = 0;
    cJSON *doc = parse_exact(s, (size_t)(e - s), &pos);
    if (!doc)
        return errf(err, errlen, "%s:%zu: malformed JSON near column %zu", path, lineno,
                    (size_t)(s - line) + pos + 1);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return errf(err, errlen, "%s:%zu: expected a JSON object", path, lineno);
    }
    cJSON_AddItemToArray(docs, doc);
    return 0;
}

static cJSON *read_jsonl(char *text, size_t len, const char *path, char *err, size_t errlen)
{
    cJSON *docs = need(cJSON_CreateArray());
    char *p = text, *end = text + len;
    for (size_t lineno = 1; p < end; lineno++) {
        char *nl = memchr(p, '\n', (size_t)(end - p));
        char *eol = nl ? nl : end;
        if (jsonl_line(docs, p, eol, path, lineno, err, errlen) != 0) {
            cJSON_Delete(docs);
            return NULL;
        }
        p = nl ? nl + 1 : end;
    }
    return docs;
}

/* "PATH:LINE: malformed JSON near column C" for byte offset pos of text. */
static int json_syntax_error(const char *text, size_t pos, const char *path, char *err,
                             size_t errlen)
{
    size_t line = 1, col_start = 0;
    for (size_t i = 0; i < pos; i++) {
        if (text[i] == '\n') {
            line++;
            col_start = i + 1;
        }
    }
    return errf(err, errlen, "%s:%zu: malformed JSON near column %zu", path, line,
                pos - col_start + 1);
}

static int check_all_objects(const cJSON *arr, const char *path, char *err, size_t errlen)
{
    size_t i = 0;
    for (const cJSON *c = arr->child; c; c = c->next, i++)
        if (!cJSON_IsObject(c))
            return errf(err, errlen, "%s: element %zu of the array is not a JSON object", path,
                        i + 1);
    return 0;
}

/* A top-level array of objects, an object with a "data" array, or JSON Lines. */
static cJSON *read_json(char *text, size_t len, const char *path, char *err, size_t errlen)
{
    size_t start = 0;
    while (start < len && is_json_space(text[start])) start++;
    if (start == len) return need(cJSON_CreateArray());
    const char *end = NULL;
    cJSON *v = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    size_t pos = end && end >= text ? (size_t)(end - text) : 0;
    while (v && pos < len && is_json_space(text[pos])) pos++;
    if (v && pos < len && cJSON_IsObject(v)) { /* one object per line in a .json file */
        cJSON_Delete(v);
        return read_jsonl(text, len, path, err, errlen);
    }
    if (!v || pos < len) {
        cJSON_Delete(v);
        json_syntax_error(text, pos, path, err, errlen);
        return NULL;
    }
    if (cJSON_IsObject(v) && cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(v, "data"))) {
        cJSON *data = cJSON_DetachItemFromObjectCaseSensitive(v, "data");
        cJSON_Delete(v);
        v = data;
    }
    if (!cJSON_IsArray(v)) {
        cJSON_Delete(v);
        errf(err, errlen, "%s: expected a JSON array of objects or an object with a \"data\" "
             "array", path);
        return NULL;
    }
    if (check_all_objects(v, path, err, errlen) != 0) {
        cJSON_Delete(v);
        return NULL;
    }
    return v;
}

/* ---- CSV and TSV (RFC 4180) --------------------------------------------------------- */

typedef struct csv_reader {
    const char *p, *end;
    char sep;
    size_t line;    /* physical line p is on (1-based) */
    buf row;        /* the current record's fields, each NUL-terminated */
    size_t *offs;   /* (nfields) start of each field in row */
    size_t nfields, cap;
} csv_reader;

/* A quoted field, p just past the opening quote: "" is a quote; newlines are kept. */
static int csv_quoted(csv_reader *r, const char *path, char *err, size_t errlen)
{
    size_t open_line = r->line;
    for (;;) {
        const char *q = r->p;
        while (q < r->end && *q != '"') {
            if (*q == '\n') r->line++;
            q++;
        }
        buf_append(&r->row, r->p, (size_t)(q - r->p));
        if (q == r->end)
            return errf(err, errlen, "%s:%zu: unterminated quoted field", path, open_line);
        if (q + 1 < r->end && q[1] == '"') {
            buf_putc(&r->row, '"');
            r->p = q + 2;
            continue;
        }
        r->p = q + 1;
        return 0;
    }
}

/* Unquoted text up to the next separator or newline, without a '\r' before the newline.
 * Also takes stray text after a closing quote (kept, as Python's csv module does). */
static void csv_plain(csv_reader *r)
{
    const char *q = r->p;
    while (q < r->end && *q != r->sep && *q != '\n') q++;
    const char *e = q;
    if (e > r->p && e[-1] == '\r' && (q == r->end || *q == '\n')) e--;
    buf_append(&r->row, r->p, (size_t)(e - r->p));
    r->p = q;
}

static void csv_start_field(csv_reader *r)
{
    if (r->nfields == r->cap) r->offs = xrealloc(r->offs, (r->cap = r->cap ? r->cap * 2 : 16) *
                                                 sizeof *r->offs);
    r->offs[r->nfields++] = r->row.len;
}

/* Read one record: 1, 0 at the end of input, -1 with err set. Empty lines are skipped;
 * *lineno gets the line the record starts on. */
static int csv_record(csv_reader *r, size_t *lineno, const char *path, char *err, size_t errlen)
{
    while (r->p < r->end && (*r->p == '\n' || (*r->p == '\r' && r->p + 1 < r->end &&
                                               r->p[1] == '\n'))) {
        r->p += *r->p == '\r' ? 2 : 1;
        r->line++;
    }
    if (r->p >= r->end) return 0;
    *lineno = r->line;
    buf_clear(&r->row);
    r->nfields = 0;
    for (;;) {
        csv_start_field(r);
        if (*r->p == '"') {
            r->p++;
            if (csv_quoted(r, path, err, errlen) != 0) return -1;
        }
        csv_plain(r);
        buf_putc(&r->row, '\0');
        if (r->p < r->end && *r->p == r->sep) {
            r->p++;
            if (r->p < r->end) continue;
            csv_start_field(r); /* "a," at the very end: one more, empty field */
            buf_putc(&r->row, '\0');
            return 1;
        }
        if (r->p < r->end) { /* at '\n' */
            r->p++;
            r->line++;
        }
        return 1;
    }
}

static const char *csv_field(const csv_reader *r, size_t i)
{
    return r->row.data + r->offs[i];
}

/* The header's fields as an array of names; -1 with err on a repeated name. */
static char **csv_header(const csv_reader *r, const char *path, char *err, size_t errlen)
{
    char **names = xcalloc(r->nfields, sizeof *names);
    for (size_t i = 0; i < r->nfields; i++) {
        names[i] = xstrdup(csv_field(r, i));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(names[i], names[j]) == 0) {
                errf(err, errlen, "%s:1: column name '%s' appears twice in the header", path,
                     names[i]);
                for (size_t k = 0; k <= i; k++) free(names[k]);
                free(names);
                return NULL;
            }
        }
    }
    return names;
}

static cJSON *csv_doc(const csv_reader *r, char *const *names)
{
    cJSON *doc = need(cJSON_CreateObject());
    for (size_t i = 0; i < r->nfields; i++)
        cJSON_AddItemToObject(doc, names[i], need(cJSON_CreateString(csv_field(r, i))));
    return doc;
}

static cJSON *read_csv(const char *text, size_t len, char sep, const char *path, char *err,
                       size_t errlen)
{
    csv_reader r = {.p = text, .end = text + len, .sep = sep, .line = 1};
    cJSON *docs = need(cJSON_CreateArray()), *result = NULL;
    char **names = NULL;
    size_t ncols = 0, lineno = 0;
    int rc = csv_record(&r, &lineno, path, err, errlen);
    if (rc <= 0) {
        result = rc == 0 ? docs : NULL;
        goto cleanup;
    }
    ncols = r.nfields;
    if (!(names = csv_header(&r, path, err, errlen))) goto cleanup;
    while ((rc = csv_record(&r, &lineno, path, err, errlen)) > 0) {
        if (r.nfields != ncols) {
            errf(err, errlen, "%s:%zu: %zu fields, header has %zu", path, lineno, r.nfields,
                 ncols);
            goto cleanup;
        }
        cJSON_AddItemToArray(docs, csv_doc(&r, names));
    }
    if (rc == 0) result = docs;
cleanup:
    if (!result) cJSON_Delete(docs);
    for (size_t i = 0; names && i < ncols; i++) free(names[i]);
    free(names);
    free(r.offs);
    buf_free(&r.row);
    return result;
}

/* ---- dispatch by extension ------------------------------------------------------------- */

enum data_format { FMT_UNKNOWN, FMT_JSONL, FMT_JSON, FMT_CSV, FMT_TSV };

static enum data_format format_of(const char *path)
{
    static const struct { const char *ext; enum data_format fmt; } table[] = {
        {".jsonl", FMT_JSONL}, {".json", FMT_JSON}, {".csv", FMT_CSV}, {".tsv", FMT_TSV},
    };
    size_t n = strlen(path);
    if (n > 3 && strcasecmp(path + n - 3, ".gz") == 0) n -= 3;
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        size_t e = strlen(table[i].ext);
        if (n > e && strncasecmp(path + n - e, table[i].ext, e) == 0) return table[i].fmt;
    }
    return FMT_UNKNOWN;
}

int dataset_is_jsonl(const char *path)
{
    return format_of(path) == FMT_JSONL;
}

int dataset_read_text(const char *path, buf *text, char *err, size_t errlen)
{
    if (read_bytes(path, text, err, errlen) != 0) return -1;
    if (text->len >= 3 && memcmp(text->data, "\xEF\xBB\xBF", 3) == 0) { /* byte order mark */
        memmove(text->data, text->data + 3, text->len - 3);
        text->len -= 3;
    }
    buf_putc(text, '\0'); /* makes data non-NULL */
    text->len--;
    return 0;
}

cJSON *dataset_read(const char *path, char *err, size_t errlen)
{
    enum data_format fmt = format_of(path);
    if (fmt == FMT_UNKNOWN) {
        errf(err, errlen, "%s: unknown data format (expected .jsonl, .json, .csv or .tsv, "
             "optionally .gz)", path);
        return NULL;
    }
    buf text = {0};
    if (read_bytes(path, &text, err, errlen) != 0) {
        buf_free(&text);
        return NULL;
    }
    buf_putc(&text, '\0'); /* makes data non-NULL; the bytes read are text.len - 1 */
    char *s = text.data;
    size_t len = text.len - 1;
    if (len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0) { /* UTF-8 byte order mark */
        s += 3;
        len -= 3;
    }
    cJSON *docs = NULL;
    switch (fmt) {
    case FMT_JSONL: docs = read_jsonl(s, len, path, err, errlen); break;
    case FMT_JSON: docs = read_json(s, len, path, err, errlen); break;
    case FMT_CSV: docs = read_csv(s, len, ',', path, err, errlen); break;
    case FMT_TSV: docs = read_csv(s, len, '\t', path, err, errlen); break;
    case FMT_UNKNOWN: break;
    }
    buf_free(&text);
    return docs;
}
