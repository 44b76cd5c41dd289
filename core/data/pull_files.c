/* pull_files.c — the files of a pull (see pull.h): the .pull folder with meta.json and one
 * file per page, each written atomically, and the final join into <split>.jsonl. */
#include "pull_internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

int pull_mkdir_p(const char *path, char *err, size_t errlen)
{
    char *p = xstrdup(path);
    int rc = 0;
    for (char *s = p + 1; rc == 0; s++) {
        if (*s != '/' && *s != '\0') continue;
        char c = *s;
        *s = '\0';
        if (mkdir(p, 0755) != 0 && errno != EEXIST) rc = errf(err, errlen, "cannot create %s: %s", p, strerror(errno));
        *s = c;
        if (c == '\0') break;
    }
    free(p);
    return rc;
}

int pull_write_atomic(const char *path, const char *data, size_t len, int sync, char *err,
                      size_t errlen)
{
    buf tmp = {0};
    buf_printf(&tmp, "%s.tmp", path);
    FILE *f = fopen(tmp.data, "wb");
    int ok = f && fwrite(data, 1, len, f) == len && fflush(f) == 0;
    if (ok && sync) ok = fsync(fileno(f)) == 0;
    int saved = errno;
    if (f && fclose(f) != 0 && ok) {
        ok = 0;
        saved = errno;
    }
    if (ok && rename(tmp.data, path) != 0) {
        ok = 0;
        saved = errno;
    }
    if (!ok) {
        unlink(tmp.data);
        errf(err, errlen, "cannot write %s: %s", path, strerror(saved));
    }
    buf_free(&tmp);
    return ok ? 0 : -1;
}

char *pull_page_path(const pull_state *sp, size_t page)
{
    buf b = {0};
    buf_printf(&b, "%s/page-%09zu.jsonl", sp->part_dir, page * PULL_PAGE_ROWS);
    return buf_steal(&b);
}

static char *meta_path(const pull_state *sp)
{
    buf b = {0};
    buf_printf(&b, "%s/meta.json", sp->part_dir);
    return buf_steal(&b);
}

int pull_meta_write(const pull_state *sp, char *err, size_t errlen)
{
    cJSON *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "dataset", sp->out->dataset);
    cJSON_AddStringToObject(m, "config", sp->config);
    cJSON_AddStringToObject(m, "split", sp->out->split);
    cJSON_AddNumberToObject(m, "num_rows_total", (double)sp->total);
    cJSON_AddNumberToObject(m, "page_rows", PULL_PAGE_ROWS);
    char *text = cJSON_Print(m);
    cJSON_Delete(m);
    char *path = meta_path(sp);
    int rc = pull_mkdir_p(sp->part_dir, err, errlen);
    if (rc == 0) rc = pull_write_atomic(path, text, strlen(text), 0, err, errlen);
    free(path);
    free(text);
    return rc;
}

/* Whether meta.json names this split with this page size; its total in *total. */
static int meta_matches(const pull_state *sp, const cJSON *m, long long *total)
{
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(m, "dataset");
    const cJSON *cf = cJSON_GetObjectItemCaseSensitive(m, "config");
    const cJSON *sl = cJSON_GetObjectItemCaseSensitive(m, "split");
    const cJSON *n = cJSON_GetObjectItemCaseSensitive(m, "num_rows_total");
    const cJSON *pr = cJSON_GetObjectItemCaseSensitive(m, "page_rows");
    if (!cJSON_IsString(ds) || !cJSON_IsString(cf) || !cJSON_IsString(sl) || !cJSON_IsNumber(n) ||
        !cJSON_IsNumber(pr) || pr->valuedouble != PULL_PAGE_ROWS || n->valuedouble < 0)
        return 0;
    *total = (long long)n->valuedouble;
    return strcmp(ds->valuestring, sp->out->dataset) == 0 && strcmp(cf->valuestring, sp->config) == 0 &&
           strcmp(sl->valuestring, sp->out->split) == 0;
}

long long pull_meta_read(const pull_state *sp)
{
    char *path = meta_path(sp);
    FILE *f = fopen(path, "rb");
    free(path);
    if (!f) return -1;
    buf text = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) buf_append(&text, chunk, n);
    fclose(f);
    cJSON *m = cJSON_ParseWithLength(buf_str(&text), text.len);
    long long total = -1;
    if (!m || !meta_matches(sp, m, &total)) total = -1;
    cJSON_Delete(m);
    buf_free(&text);
    return total;
}

void pull_part_remove(const pull_state *sp)
{
    DIR *d = opendir(sp->part_dir);
    if (!d) return;
    struct dirent *e;
    buf p = {0};
    while ((e = readdir(d)) != NULL) {
        const char *name = e->d_name;
        int ours = strcmp(name, "meta.json") == 0 || strncmp(name, "page-", 5) == 0 ||
                   strncmp(name, "meta.json.", 10) == 0;
        if (!ours) continue;
        buf_clear(&p);
        buf_printf(&p, "%s/%s", sp->part_dir, name);
        unlink(p.data);
    }
    closedir(d);
    buf_free(&p);
    rmdir(sp->part_dir); /* stays when someone put other files there */
}

/* Append the first max_lines lines of the file at path to out; returns lines appended or -1. */
static long append_lines(FILE *out, const char *path, size_t max_lines, char *err, size_t errlen)
{
    FILE *in = fopen(path, "rb");
    if (!in) return errf(err, errlen, "cannot read %s: %s", path, strerror(errno));
    char *line = NULL;
    size_t cap = 0, n = 0;
    ssize_t len;
    while (n < max_lines && (len = getline(&line, &cap, in)) > 0) {
        if (fwrite(line, 1, (size_t)len, out) != (size_t)len) break;
        n++;
    }
    int bad = ferror(in) || ferror(out);
    free(line);
    fclose(in);
    if (bad) return errf(err, errlen, "cannot copy %s: %s", path, strerror(errno));
    return (long)n;
}

int pull_assemble(pull_state *sp, char *err, size_t errlen)
{
    buf tmp = {0};
    buf_printf(&tmp, "%s.tmp", sp->final_path);
    FILE *out = fopen(tmp.data, "wb");
    int rc = out ? 0 : errf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
    size_t rows = 0;
    for (size_t i = 0; rc == 0 && i < sp->n_pages; i++) {
        char *page = pull_page_path(sp, i);
        long got = append_lines(out, page, sp->want - rows, err, errlen);
        free(page);
        if (got < 0) rc = -1;
        else rows += (size_t)got;
    }
    if (rc == 0 && rows != sp->want)
        rc = errf(err, errlen, "the pages in %s hold %zu rows, expected %zu", sp->part_dir, rows, sp->want);
    if (out && (fflush(out) != 0 || fsync(fileno(out)) != 0) && rc == 0)
        rc = errf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
    if (out && fclose(out) != 0 && rc == 0) rc = errf(err, errlen, "cannot write %s: %s", tmp.data, strerror(errno));
    if (rc == 0 && rename(tmp.data, sp->final_path) != 0)
        rc = errf(err, errlen, "cannot rename %s to %s: %s", tmp.data, sp->final_path, strerror(errno));
    if (rc != 0) unlink(tmp.data);
    else if (sp->want == sp->total) pull_part_remove(sp); /* a --limit-rows file keeps them */
    sp->out->rows = rows;
    buf_free(&tmp);
    return rc;
}
