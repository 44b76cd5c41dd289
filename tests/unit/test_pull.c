/* test_pull.c — the pieces of `evallua data pull` that need no server: parsing pages of the
 * datasets-server rows API (rows kept byte for byte, row_idx checked, truncated cells counted)
 * and the server's error message. The HTTP side is tested end to end (e2e.data_pull). */
#include "check.h"

#include <stdlib.h>

#include "data/pull.h"

/* A compact page as the API sends it: rows keep their exact bytes (1.0 stays 1.0, escapes stay). */
static void test_compact_page(void)
{
    const char *body =
        "{\"features\":[{\"feature_idx\":0,\"name\":\"x\",\"type\":{\"dtype\":\"float64\",\"_type\":\"Value\"}}],"
        "\"rows\":[{\"row_idx\":200,\"row\":{\"x\":1.0,\"s\":\"caf\\u00e9 \\\"q\\\"\"},\"truncated_cells\":[]},"
        "{\"row_idx\":201,\"row\":{\"x\":2,\"s\":\"a]}b\"},\"truncated_cells\":[\"s\"]}],"
        "\"num_rows_total\":202,\"num_rows_per_page\":100,\"partial\":false}";
    pull_page p;
    char err[256];
    CHECK(pull_page_parse(body, strlen(body), 200, &p, err, sizeof err) == 0);
    CHECK(p.total == 202);
    CHECK(p.n_rows == 2);
    CHECK(p.truncated == 1);
    CHECK(p.partial == 0);
    CHECK_STR(p.lines, "{\"x\":1.0,\"s\":\"caf\\u00e9 \\\"q\\\"\"}\n{\"x\":2,\"s\":\"a]}b\"}\n");
    pull_page_free(&p);
}

/* Keys in another order, spaces between tokens, and a row printed over several lines: the
   one-line rows keep their bytes, the multi-line one is printed compactly. */
static void test_spaced_page(void)
{
    const char *body =
        "{ \"partial\": true, \"num_rows_total\": 5,\n \"rows\": [\n"
        "  { \"truncated_cells\": [], \"row\": {\"a\": [1, 2]}, \"row_idx\": 3 },\n"
        "  { \"row_idx\": 4, \"row\": {\n    \"a\": [3]\n  } }\n ] }";
    pull_page p;
    char err[256];
    CHECK(pull_page_parse(body, strlen(body), 3, &p, err, sizeof err) == 0);
    CHECK(p.partial == 1);
    CHECK(p.total == 5);
    CHECK_STR(p.lines, "{\"a\": [1, 2]}\n{\"a\":[3]}\n");
    pull_page_free(&p);
}

/* An empty page (an empty split). */
static void test_empty_page(void)
{
    const char *body = "{\"features\":[],\"rows\":[],\"num_rows_total\":0,\"num_rows_per_page\":100,\"partial\":false}";
    pull_page p;
    char err[256];
    CHECK(pull_page_parse(body, strlen(body), 0, &p, err, sizeof err) == 0);
    CHECK(p.n_rows == 0 && p.total == 0);
    CHECK_STR(p.lines, "");
    pull_page_free(&p);
}

static void expect_error(const char *body, size_t offset, const char *want)
{
    pull_page p;
    char err[256] = "";
    CHECK(pull_page_parse(body, strlen(body), offset, &p, err, sizeof err) == -1);
    CHECK_STR(err, want);
}

static void test_bad_pages(void)
{
    expect_error("<html>502 Bad Gateway</html>", 0, "the reply is not a JSON object");
    expect_error("{\"rows\":[{\"row_idx\":0,\"row\":{}}]", 0, "the reply is not a JSON object"); /* cut short */
    expect_error("{\"num_rows_total\":3}", 0, "the reply has no \"rows\" array");
    expect_error("{\"rows\":[]}", 0, "the reply has no \"num_rows_total\"");
    expect_error("{\"rows\":[{\"row_idx\":5,\"row\":{}}],\"num_rows_total\":9}", 4,
                 "rows[0] has row_idx out of sequence, expected 4");
    expect_error("{\"rows\":[{\"row_idx\":0,\"row\":{}},{\"row\":{}}],\"num_rows_total\":9}", 0,
                 "rows[1] has row_idx missing, expected 1");
    expect_error("{\"rows\":[{\"row_idx\":0,\"row\":[1]}],\"num_rows_total\":9}", 0,
                 "rows[0] has no \"row\" object");
}

static void test_server_message(void)
{
    const char *a = "{\"error\":\"The dataset does not exist.\"}";
    char *m = pull_server_message(a, strlen(a));
    CHECK_STR(m, "The dataset does not exist.");
    free(m);
    const char *b = "{\"error\":{\"message\":\"rate limited\"}}";
    m = pull_server_message(b, strlen(b));
    CHECK_STR(m, "rate limited");
    free(m);
    const char *c = "Bad\ngateway";
    m = pull_server_message(c, strlen(c));
    CHECK_STR(m, "Bad gateway");
    free(m);
    m = pull_server_message("", 0);
    CHECK_STR(m, "(empty reply)");
    free(m);
}

int main(void)
{
    test_compact_page();
    test_spaced_page();
    test_empty_page();
    test_bad_pages();
    test_server_message();
    return check_summary();
}
