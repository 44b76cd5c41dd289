/* test_data.c — dataset readers: JSON Lines, JSON, CSV/TSV, gzip, finding splits, and the
 * evallua.data Lua module. Fixtures: tests/fixtures/data/ plus files written to a temp dir. */
#include "check.h"

#include <dirent.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "data/dataset.h"
#include "host/modules.h"
#include "util/buf.h"

static char fixtures[512]; /* tests/fixtures/data */
static char tmpdir[256];    /* scratch files, removed at the end */

static void find_fixtures(void)
{
    const char *src = getenv("EVALLUA_SRC");
    if (src && *src) {
        snprintf(fixtures, sizeof fixtures, "%s/tests/fixtures/data", src);
    } else { /* tests/unit/test_data.c → tests/fixtures/data */
        const char *file = __FILE__, *slash = strrchr(file, '/');
        int dirlen = slash ? (int)(slash - file) : 0;
        snprintf(fixtures, sizeof fixtures, "%.*s%s../fixtures/data", dirlen, file,
                 slash ? "/" : "");
    }
}

/* Path of a fixture (static buffer, valid until the next call). */
static const char *fx(const char *rel)
{
    static char path[768];
    snprintf(path, sizeof path, "%s/%s", fixtures, rel);
    return path;
}

/* Path in the temp dir (static buffer, one of two so two can be live at once). */
static const char *tmp(const char *name)
{
    static char paths[2][512];
    static int which;
    which ^= 1;
    snprintf(paths[which], sizeof paths[which], "%s/%s", tmpdir, name);
    return paths[which];
}

static void write_file(const char *path, const char *s, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    fwrite(s, 1, n, f);
    fclose(f);
}

static void write_gz(const char *path, const char *s)
{
    gzFile f = gzopen(path, "wb");
    if (!f) {
        perror(path);
        exit(2);
    }
    gzwrite(f, s, (unsigned)strlen(s));
    gzclose(f);
}

static const char *str_field(const cJSON *doc, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(doc, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* err must contain want; prints both otherwise. */
static void check_err(const char *err, const char *want)
{
    int ok = strstr(err, want) != NULL;
    CHECK(ok);
    if (!ok) fprintf(stderr, "  error:    \"%s\"\n  expected: \"...%s...\"\n", err, want);
}

/* dataset_read on path must fail with an error containing want. */
static void check_read_fails(const char *path, const char *want)
{
    char err[1024] = "";
    cJSON *docs = dataset_read(path, err, sizeof err);
    CHECK(docs == NULL);
    cJSON_Delete(docs);
    check_err(err, want);
}

static void test_jsonl(void)
{
    char err[1024] = "";
    cJSON *docs = dataset_read(fx("hub/evallua/tiny/default/test.jsonl"), err, sizeof err);
    CHECK(docs != NULL);
    if (!docs) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK(cJSON_GetArraySize(docs) == 3); /* the blank line is skipped */
    cJSON *d1 = cJSON_GetArrayItem(docs, 1);
    CHECK_STR(str_field(d1, "question"), "Caf\xC3\xA9 or tea?");
    CHECK(cJSON_IsFalse(cJSON_GetObjectItem(d1, "ok")));
    CHECK(cJSON_IsArray(cJSON_GetObjectItem(d1, "choices")));
    CHECK(cJSON_IsNull(cJSON_GetObjectItem(cJSON_GetArrayItem(docs, 0), "extra")));
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 2), "question"), "Say \"hi\"");
    cJSON_Delete(docs);

    const char crlf[] = "{\"a\": \"x\"}\r\n\r\n  \r\n{\"a\": \"y\"}\r\n";
    write_file(tmp("crlf.jsonl"), crlf, sizeof crlf - 1);
    docs = dataset_read(tmp("crlf.jsonl"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 2);
    if (docs) CHECK_STR(str_field(cJSON_GetArrayItem(docs, 1), "a"), "y");
    cJSON_Delete(docs);

    char want[2048];
    snprintf(want, sizeof want, "%s:3: malformed JSON near column", fx("bad/malformed.jsonl"));
    check_read_fails(fx("bad/malformed.jsonl"), want);
    snprintf(want, sizeof want, "%s:2: expected a JSON object", fx("bad/not_object.jsonl"));
    check_read_fails(fx("bad/not_object.jsonl"), want);

    write_file(tmp("col.jsonl"), "{\"a\": 1}\n  {\"a\": 2,}\n", 22);
    snprintf(want, sizeof want, "%s:2: malformed JSON near column 11", tmp("col.jsonl"));
    check_read_fails(tmp("col.jsonl"), want);
}

static void test_long_line(void)
{
    size_t n = 1 << 20;
    buf b = {0};
    buf_puts(&b, "{\"short\": \"s\"}\n{\"long\": \"");
    for (size_t i = 0; i < n; i++) buf_putc(&b, (char)('a' + i % 26));
    buf_puts(&b, "\"}\n{\"short\": \"t\"}");  /* no newline at the end */
    write_file(tmp("long.jsonl"), b.data, b.len);
    buf_free(&b);
    char err[1024] = "";
    cJSON *docs = dataset_read(tmp("long.jsonl"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 3);
    const char *s = docs ? str_field(cJSON_GetArrayItem(docs, 1), "long") : NULL;
    CHECK(s && strlen(s) == n && s[n - 1] == (char)('a' + (n - 1) % 26));
    if (docs) CHECK_STR(str_field(cJSON_GetArrayItem(docs, 2), "short"), "t");
    cJSON_Delete(docs);
}

static void test_json(void)
{
    char err[1024] = "";
    cJSON *docs = dataset_read(fx("hub/evallua/tiny/other/test.json"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 2);
    if (docs) CHECK_STR(str_field(cJSON_GetArrayItem(docs, 1), "q"), "second");
    cJSON_Delete(docs);

    docs = dataset_read(fx("hub/evallua/tiny/array/test.json"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 2);
    if (docs) CHECK_STR(str_field(cJSON_GetArrayItem(docs, 0), "q"), "alpha");
    cJSON_Delete(docs);

    write_file(tmp("lines.json"), "{\"a\": 1}\n{\"a\": 2}\n", 18); /* JSON Lines in a .json */
    docs = dataset_read(tmp("lines.json"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 2);
    cJSON_Delete(docs);

    char want[2048];
    snprintf(want, sizeof want, "%s:3: malformed JSON near column 1", fx("bad/garbage.json"));
    check_read_fails(fx("bad/garbage.json"), want);
    snprintf(want, sizeof want, "%s: expected a JSON array of objects", fx("bad/lone_object.json"));
    check_read_fails(fx("bad/lone_object.json"), want);
    snprintf(want, sizeof want, "%s: element 2 of the array is not a JSON object",
             fx("bad/not_objects.json"));
    check_read_fails(fx("bad/not_objects.json"), want);
}

static void test_csv(void)
{
    char err[1024] = "";
    cJSON *docs = dataset_read(fx("hub/evallua/tiny/default/train.csv"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 5);
    if (!docs) {
        fprintf(stderr, "  %s\n", err);
        return;
    }
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 0), "text"), "plain");
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 0), "id"), "1"); /* values stay strings */
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 1), "text"), "with, comma");
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 2), "text"), "two\nlines");
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 2), "label"), "c");
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 3), "text"), "say \"hi\"");
    CHECK_STR(str_field(cJSON_GetArrayItem(docs, 4), "text"), "");
    cJSON_Delete(docs);

    docs = dataset_read(fx("hub/evallua/tiny/default/validation.tsv"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 3);
    if (docs) {
        CHECK_STR(str_field(cJSON_GetArrayItem(docs, 1), "text"), "tab\tinside");
        CHECK_STR(str_field(cJSON_GetArrayItem(docs, 2), "text"), "comma, fine");
    }
    cJSON_Delete(docs);

    const char crlf[] = "a,b\r\n1,\"x\r\ny\"\r\n\r\n2,z\r\n3,\r\n";
    write_file(tmp("crlf.csv"), crlf, sizeof crlf - 1);
    docs = dataset_read(tmp("crlf.csv"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 3);
    if (docs) {
        CHECK_STR(str_field(cJSON_GetArrayItem(docs, 0), "b"), "x\r\ny");
        CHECK_STR(str_field(cJSON_GetArrayItem(docs, 1), "b"), "z");
        CHECK_STR(str_field(cJSON_GetArrayItem(docs, 2), "b"), "");
    }
    cJSON_Delete(docs);

    char want[2048];
    snprintf(want, sizeof want, "%s:3: 2 fields, header has 3", fx("bad/wrong_fields.csv"));
    check_read_fails(fx("bad/wrong_fields.csv"), want);
    snprintf(want, sizeof want, "%s:2: unterminated quoted field", fx("bad/unterminated.csv"));
    check_read_fails(fx("bad/unterminated.csv"), want);

    write_file(tmp("header_only.csv"), "a,b\n", 4);
    docs = dataset_read(tmp("header_only.csv"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 0);
    cJSON_Delete(docs);
}

static void test_gz_and_empty(void)
{
    char err[1024] = "";
    write_gz(tmp("z.jsonl.gz"), "{\"n\": 1}\n{\"n\": 2}\n{\"n\": 3}\n");
    cJSON *docs = dataset_read(tmp("z.jsonl.gz"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 3);
    cJSON_Delete(docs);

    write_gz(tmp("z.csv.gz"), "a,b\n1,\"x,y\"\n");
    docs = dataset_read(tmp("z.csv.gz"), err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 1);
    if (docs) CHECK_STR(str_field(cJSON_GetArrayItem(docs, 0), "b"), "x,y");
    cJSON_Delete(docs);

    const char *exts[] = {"e.jsonl", "e.json", "e.csv", "e.tsv"};
    for (size_t i = 0; i < 4; i++) {
        write_file(tmp(exts[i]), "", 0);
        docs = dataset_read(tmp(exts[i]), err, sizeof err);
        CHECK(cJSON_IsArray(docs) && cJSON_GetArraySize(docs) == 0);
        cJSON_Delete(docs);
    }

    check_read_fails(tmp("absent.jsonl"), "No such file or directory");
    check_read_fails(tmp("data.parquet"), "unknown data format");
}

static void test_find(void)
{
    char path[4096], err[2048] = "", want[4096], hub[768];
    snprintf(hub, sizeof hub, "%s", fx("hub"));
    CHECK(dataset_find(hub, "evallua/tiny", NULL, "test", path, sizeof path, err, sizeof err) == 0);
    snprintf(want, sizeof want, "%s/evallua/tiny/default/test.jsonl", hub);
    CHECK_STR(path, want);
    CHECK(dataset_find(hub, "evallua/tiny", "", "train", path, sizeof path, err, sizeof err) == 0);
    snprintf(want, sizeof want, "%s/evallua/tiny/default/train.csv", hub);
    CHECK_STR(path, want);
    char slashed[800];
    snprintf(slashed, sizeof slashed, "%s/", hub); /* a trailing slash is not doubled */
    CHECK(dataset_find(slashed, "evallua/tiny", "other", "test", path, sizeof path, err,
                       sizeof err) == 0);
    snprintf(want, sizeof want, "%s/evallua/tiny/other/test.json", hub);
    CHECK_STR(path, want);

    CHECK(dataset_find(hub, "evallua/tiny", NULL, "dev", path, sizeof path, err, sizeof err) == -1);
    snprintf(want, sizeof want, "no file for split 'dev' of evallua/tiny (config default): "
             "expected %s/evallua/tiny/default/dev.jsonl (or .jsonl.gz, .json, .csv, .tsv)", hub);
    check_err(err, want);
    check_err(err, "splits there: test, train, validation");

    CHECK(dataset_find(hub, "evallua/tiny", "nope", "test", path, sizeof path, err, sizeof err) == -1);
    check_err(err, "configs there: array, default, other");
    CHECK(dataset_find(tmp("no_such_dir"), "a/b", NULL, "test", path, sizeof path, err,
                       sizeof err) == -1);
    check_err(err, "does not exist");

    /* extension order: .jsonl before .jsonl.gz before .csv */
    mkdir(tmp("h"), 0755);
    mkdir(tmp("h/x"), 0755);
    mkdir(tmp("h/x/default"), 0755);
    write_file(tmp("h/x/default/s.csv"), "a\n1\n", 4);
    CHECK(dataset_find(tmp("h"), "x", NULL, "s", path, sizeof path, err, sizeof err) == 0);
    CHECK(strstr(path, "/s.csv") != NULL);
    write_gz(tmp("h/x/default/s.jsonl.gz"), "{\"a\": 1}\n");
    CHECK(dataset_find(tmp("h"), "x", NULL, "s", path, sizeof path, err, sizeof err) == 0);
    CHECK(strstr(path, "/s.jsonl.gz") != NULL);
    write_file(tmp("h/x/default/s.jsonl"), "{\"a\": 1}\n", 9);
    CHECK(dataset_find(tmp("h"), "x", NULL, "s", path, sizeof path, err, sizeof err) == 0);
    CHECK(strstr(path, "/s.jsonl") != NULL && strstr(path, ".gz") == NULL);
}

/* Run a chunk returning one value; its tostring, or "ERROR: msg" (static buffer). */
static const char *eval(lua_State *L, const char *code)
{
    static char out[4096];
    int top = lua_gettop(L);
    if (luaL_loadstring(L, code) != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK)
        snprintf(out, sizeof out, "ERROR: %s", lua_tostring(L, -1));
    else
        snprintf(out, sizeof out, "%s", luaL_tolstring(L, -1, NULL));
    lua_settop(L, top);
    return out;
}

static void test_lua_module(void)
{
    lua_State *L = luaL_newstate();
    luaL_openlibs(L);
    luaL_requiref(L, "evallua.json", luaopen_evallua_json, 0);
    luaL_requiref(L, "evallua.data", luaopen_evallua_data, 0);
    lua_setglobal(L, "data");
    lua_setglobal(L, "json");
    lua_pushstring(L, fx("hub"));
    lua_setglobal(L, "HUB");

    CHECK_STR(eval(L, "local docs, path = data.load(HUB, 'evallua/tiny', nil, 'test')\n"
                      "return #docs .. ' ' .. docs[2].question .. ' ' .. math.type(docs[1].id)"
                      " .. ' ' .. tostring(docs[1].extra == json.null) .. ' '"
                      " .. tostring(json.is_array(docs[2].choices)) .. ' ' .. path:match('[^/]*$')"),
              "3 Caf\xC3\xA9 or tea? integer true true test.jsonl");
    CHECK_STR(eval(L, "local p, msg = data.find(HUB, 'evallua/tiny', 'default', 'dev')\n"
                      "return tostring(p) .. ' | ' .. msg:match('^no file for split')"),
              "nil | no file for split");
    CHECK_STR(eval(L, "return #data.read(data.find(HUB, 'evallua/tiny', 'default', 'train'))"),
              "5");
    const char *e = eval(L, "return data.load(HUB, 'evallua/tiny', nil, 'dev')");
    check_err(e, "ERROR: no file for split 'dev'");
    lua_pushstring(L, fx("bad/malformed.jsonl"));
    lua_setglobal(L, "BAD");
    e = eval(L, "local ok, msg = pcall(data.read, BAD) return msg");
    check_err(e, "malformed.jsonl:3: malformed JSON near column");
    check_err(eval(L, "return select(2, pcall(data.read))"), "string expected, got no value");
    lua_close(L);
}

/* The real gsm8k test split, when the shared data folder is there. */
static void test_real_data(void)
{
    const char *dir = getenv("EVALLUA_TEST_DATA");
    struct stat st;
    if (!dir || !*dir || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) {
        printf("skipping real-data checks: EVALLUA_TEST_DATA is not set to a folder\n");
        return;
    }
    char path[4096], err[2048] = "";
    CHECK(dataset_find(dir, "openai/gsm8k", "main", "test", path, sizeof path, err, sizeof err) == 0);
    clock_t t0 = clock();
    cJSON *docs = dataset_read(path, err, sizeof err);
    CHECK(docs && cJSON_GetArraySize(docs) == 1319);
    const char *q = docs ? str_field(cJSON_GetArrayItem(docs, 0), "question") : NULL;
    CHECK(q && strncmp(q, "Janet", 5) == 0);
    cJSON_Delete(docs);
    printf("gsm8k test: 1319 docs read in %.3f s\n", (double)(clock() - t0) / CLOCKS_PER_SEC);

    if (dataset_find(dir, "openai/openai_humaneval", "openai_humaneval", "test", path,
                     sizeof path, err, sizeof err) == 0) {
        docs = dataset_read(path, err, sizeof err);
        CHECK(docs && cJSON_GetArraySize(docs) == 164);
        cJSON_Delete(docs);
    }
}

static void remove_tree(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            char sub[1024];
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            remove_tree(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

int main(void)
{
    find_fixtures();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/evallua_test_data_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_jsonl();
    test_long_line();
    test_json();
    test_csv();
    test_gz_and_empty();
    test_find();
    test_lua_module();
    test_real_data();
    remove_tree(tmpdir);
    return check_summary();
}
