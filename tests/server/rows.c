/* rows.c — the Hugging Face datasets-server endpoints `evallua data pull` uses, replayed from a
 * folder in the hub layout (--rows-dir DIR: DIR/<dataset id>/<config>/<split>.jsonl):
 *
 *   GET /rows?dataset=&config=&split=&offset=&length=   a page of rows, in the API's format
 *   GET /splits?dataset=                                 the dataset's configs and splits
 *
 * Each row is the source file's line verbatim (so a pulled file equals its source byte for
 * byte). Faults (--rows-faults) hit chosen pages; every GET is logged (--log). The rules are
 * in tests/server/README.md, section "Datasets-server rows API". */
#include "fake_openai.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "util/buf.h"

#define ROWS_MAX_LENGTH 100

static const char not_found_dataset[] =
    "The dataset does not exist, or is not accessible without authentication (private or gated). "
    "Please check the spelling of the dataset name or retry with authentication.";

/* ---- --rows-faults ------------------------------------------------------------------------ */

/* One item: KIND@OFFSET[+][xTIMES] with KIND a status (100-599), reset, slow or cut. */
static int parse_fault(fo_rows_fault *f, const char *item, char *err, size_t errlen)
{
    memset(f, 0, sizeof f[0]);
    const char *at = strchr(item, '@');
    if (!at) return errf(err, errlen, "--rows-faults: '%s' is not KIND@OFFSET[+][xTIMES]", item);
    size_t klen = (size_t)(at - item);
    if (klen == 5 && strncmp(item, "reset", 5) == 0) f->kind = FO_ROWS_RESET;
    else if (klen == 4 && strncmp(item, "slow", 4) == 0) f->kind = FO_ROWS_SLOW;
    else if (klen == 3 && strncmp(item, "cut", 3) == 0) f->kind = FO_ROWS_CUT;
    else {
        char *end;
        long s = strtol(item, &end, 10);
        if (end != at || s < 100 || s > 599)
            return errf(err, errlen, "--rows-faults: unknown fault '%.*s' (a status, reset, slow or cut)", (int)klen, item);
        f->kind = FO_ROWS_STATUS;
        f->status = (unsigned)s;
    }
    char *end;
    f->offset = strtol(at + 1, &end, 10);
    if (end == at + 1 || f->offset < 0) return errf(err, errlen, "--rows-faults: bad offset in '%s'", item);
    f->open_ended = *end == '+';
    if (f->open_ended) end++;
    f->times = f->open_ended || f->kind == FO_ROWS_SLOW || f->kind == FO_ROWS_CUT ? 0 : 1;
    if (*end == 'x') {
        char *e2;
        f->times = strtol(end + 1, &e2, 10);
        if (e2 == end + 1 || f->times < 0) return errf(err, errlen, "--rows-faults: bad count in '%s'", item);
        end = e2;
    }
    if (*end != '\0' && *end != ',') return errf(err, errlen, "--rows-faults: unexpected text in '%s'", item);
    atomic_init(&f->hits, 0);
    return 0;
}

int fo_rows_faults_parse(fo_rows *rows, const char *spec, char *err, size_t errlen)
{
    for (const char *p = spec; *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        char *item = xstrndup(p, n);
        rows->faults = xrealloc(rows->faults, (rows->n_faults + 1) * sizeof *rows->faults);
        int rc = parse_fault(&rows->faults[rows->n_faults], item, err, errlen);
        free(item);
        if (rc) return -1;
        rows->n_faults++;
        p += n + (comma ? 1 : 0);
    }
    return 0;
}

/* The first fault that applies to a page at offset and still has hits left (taking one). */
static fo_rows_fault *fault_for(fo_rows *rows, long offset)
{
    for (size_t i = 0; i < rows->n_faults; i++) {
        fo_rows_fault *f = &rows->faults[i];
        if (f->open_ended ? offset < f->offset : offset != f->offset) continue;
        long hit = atomic_fetch_add(&f->hits, 1);
        if (f->times == 0 || hit < f->times) return f;
    }
    return NULL;
}

/* ---- replies ------------------------------------------------------------------------------ */

/* {"error": msg} with status, as the datasets-server answers. */
static void rows_error(fo_reply *r, unsigned status, const char *msg)
{
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "error", msg);
    fo_reply_json(r, root);
    r->status = status;
    cJSON_Delete(root);
}

/* A query value must not climb out of the data folder. */
static int safe_name(const char *s)
{
    return s && *s && !strstr(s, "..") && s[0] != '/' && !strchr(s, '\\');
}

static int is_dir(const char *p)
{
    struct stat st;
    return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The non-blank lines of a file (each without its line end); NULL when unreadable. */
static char **read_lines(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char **lines = NULL, *line = NULL;
    size_t cap = 0, lcap = 0;
    ssize_t len;
    *n = 0;
    while ((len = getline(&line, &lcap, f)) > 0) {
        while (len > 0 && isspace((unsigned char)line[len - 1])) len--;
        if (len == 0) continue;
        if (*n == cap) lines = xrealloc(lines, (cap = cap ? 2 * cap : 256) * sizeof *lines);
        lines[(*n)++] = xstrndup(line, (size_t)len);
    }
    free(line);
    fclose(f);
    return lines ? lines : xcalloc(1, sizeof *lines);
}

static void free_lines(char **lines, size_t n)
{
    for (size_t i = 0; i < n; i++) free(lines[i]);
    free(lines);
}

/* "features": the first row's columns with a dtype from their JSON type. */
static void write_features(buf *b, const char *first_row)
{
    cJSON *row = first_row ? cJSON_Parse(first_row) : NULL;
    buf_puts(b, "\"features\":[");
    size_t i = 0;
    for (const cJSON *c = row ? row->child : NULL; c; c = c->next, i++) {
        const char *dtype = cJSON_IsString(c) ? "string" : cJSON_IsBool(c) ? "bool"
                          : cJSON_IsNumber(c) ? (c->valuedouble == (double)(long long)c->valuedouble ? "int64" : "float64")
                          : NULL;
        buf_printf(b, "%s{\"feature_idx\":%zu,\"name\":", i ? "," : "", i);
        buf_json_string(b, c->string, strlen(c->string));
        if (dtype) buf_printf(b, ",\"type\":{\"dtype\":\"%s\",\"_type\":\"Value\"}}", dtype);
        else buf_puts(b, ",\"type\":{\"_type\":\"Sequence\"}}");
    }
    buf_puts(b, "],");
    cJSON_Delete(row);
}

/* The page body: rows [offset, offset + length) of lines. */
static void write_page(buf *b, char **lines, size_t n, long offset, long length, int cut)
{
    buf_putc(b, '{');
    write_features(b, n ? lines[0] : NULL);
    buf_puts(b, "\"rows\":[");
    for (long i = offset; i < offset + length && (size_t)i < n; i++) {
        buf_printf(b, "%s{\"row_idx\":%ld,\"row\":%s,\"truncated_cells\":[%s]}", i > offset ? "," : "", i,
                   lines[i], cut ? "\"question\"" : "");
    }
    buf_printf(b, "],\"num_rows_total\":%zu,\"num_rows_per_page\":%d,\"partial\":false}", n, ROWS_MAX_LENGTH);
}

/* A query integer in [0, max] (dflt when absent); -1 when malformed. */
static long query_long(const fo_request *rq, const char *key, long dflt, long max)
{
    const char *v = fo_request_arg(rq, key);
    if (!v) return dflt;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    return (!*v || *end || errno || x < 0 || x > max) ? -1 : x;
}

/* ---- endpoints ---------------------------------------------------------------------------- */

static void handle_splits(const fo_server *srv, const fo_request *rq, fo_reply *r)
{
    const char *ds = fo_request_arg(rq, "dataset");
    buf dir = {0}, b = {0};
    buf_printf(&dir, "%s/%s", srv->rows->dir, ds ? ds : "");
    DIR *d = safe_name(ds) ? opendir(dir.data) : NULL;
    if (!d) {
        rows_error(r, ds ? 404 : 422, ds ? not_found_dataset : "Parameter 'dataset' is required");
        buf_free(&dir);
        return;
    }
    buf_puts(&b, "{\"splits\":[");
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        buf sub = {0};
        buf_printf(&sub, "%s/%s", dir.data, e->d_name);
        DIR *cd = opendir(sub.data);
        struct dirent *f;
        while (cd && (f = readdir(cd)) != NULL) {
            size_t len = strlen(f->d_name);
            if (len <= 6 || strcmp(f->d_name + len - 6, ".jsonl") != 0) continue;
            buf_printf(&b, "%s{\"dataset\":", n++ ? "," : "");
            buf_json_string(&b, ds, strlen(ds));
            buf_puts(&b, ",\"config\":");
            buf_json_string(&b, e->d_name, strlen(e->d_name));
            buf_puts(&b, ",\"split\":");
            buf_json_string(&b, f->d_name, len - 6);
            buf_putc(&b, '}');
        }
        if (cd) closedir(cd);
        buf_free(&sub);
    }
    closedir(d);
    buf_puts(&b, "],\"pending\":[],\"failed\":[]}");
    fo_reply_buf(r, &b);
    buf_free(&dir);
}

/* GET /rows: the page, or the API's errors (422 bad parameters, 404 unknown dataset/split). */
static void handle_rows(fo_server *srv, const fo_request *rq, fo_reply *r, double *wait_ms,
                        int *reset, long *offset_out)
{
    const char *ds = fo_request_arg(rq, "dataset");
    const char *cf = fo_request_arg(rq, "config");
    const char *sp = fo_request_arg(rq, "split");
    long offset = query_long(rq, "offset", 0, 1L << 40), length = query_long(rq, "length", ROWS_MAX_LENGTH, 1L << 40);
    *offset_out = offset;
    if (!ds || !cf || !sp) {
        rows_error(r, 422, "Parameters 'dataset', 'config' and 'split' are required");
        return;
    }
    if (offset < 0) {
        rows_error(r, 422, "Parameter 'offset' must be positive");
        return;
    }
    if (length < 0) {
        rows_error(r, 422, "Parameter 'length' must be positive");
        return;
    }
    if (length > ROWS_MAX_LENGTH) {
        rows_error(r, 422, "Parameter 'length' must not be greater than 100");
        return;
    }
    buf path = {0};
    buf_printf(&path, "%s/%s", srv->rows->dir, ds);
    int known = safe_name(ds) && safe_name(cf) && safe_name(sp) && is_dir(path.data);
    buf_printf(&path, "/%s/%s.jsonl", cf, sp);
    size_t n = 0;
    char **lines = known ? read_lines(path.data, &n) : NULL;
    buf_free(&path);
    if (!known) {
        rows_error(r, 404, not_found_dataset);
        return;
    }
    if (!lines) {
        rows_error(r, 404, "The config or the split does not exist in the dataset");
        return;
    }
    fo_rows_fault *f = fault_for(srv->rows, offset);
    buf b = {0};
    if (f && f->kind == FO_ROWS_STATUS) {
        char msg[96];
        snprintf(msg, sizeof msg, "injected failure (offset %ld)", offset);
        rows_error(r, f->status, msg);
        if (f->status == 429 || f->status == 503) r->retry_after = srv->retry_after;
    } else if (f && f->kind == FO_ROWS_RESET) {
        *reset = 1;
    } else {
        if (f && f->kind == FO_ROWS_SLOW) *wait_ms = (double)srv->stall_ms;
        write_page(&b, lines, n, offset, length, f && f->kind == FO_ROWS_CUT);
        fo_reply_buf(r, &b);
    }
    free_lines(lines, n);
}

int fo_rows_route(fo_server *srv, const fo_request *rq, fo_reply *r, double *wait_ms, int *reset)
{
    const char *url = rq->path, *method = rq->method;
    int rows = strcmp(url, "/rows") == 0, splits = strcmp(url, "/splits") == 0;
    if (!srv->rows || !srv->rows->dir || (!rows && !splits)) return 0;
    const char *auth = rq->auth;
    long offset = -1;
    if (strcmp(method, "GET") != 0)
        rows_error(r, 405, "Method not allowed (use GET)");
    else if (srv->require_key && !(auth && strncmp(auth, "Bearer ", 7) == 0 && strcmp(auth + 7, srv->require_key) == 0))
        rows_error(r, 401, not_found_dataset);
    else if (splits)
        handle_splits(srv, rq, r);
    else
        handle_rows(srv, rq, r, wait_ms, reset, &offset);
    if (srv->log) {
        const char *ds = fo_request_arg(rq, "dataset");
        const char *cf = fo_request_arg(rq, "config");
        const char *sp = fo_request_arg(rq, "split");
        pthread_mutex_lock(&srv->lock);
        fprintf(srv->log, "GET %s dataset=%s config=%s split=%s offset=%ld status=%u%s\n", url,
                ds ? ds : "-", cf ? cf : "-", sp ? sp : "-", offset, *reset ? 0u : r->status,
                *wait_ms > 0 ? " slow" : "");
        fflush(srv->log);
        pthread_mutex_unlock(&srv->lock);
    }
    return 1;
}
