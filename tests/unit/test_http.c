/* test_http.c — the OpenAI backend without a server: endpoint URLs, request bodies, response
 * parsing (echo logprobs in code points, straddling tokens, greedy, chat fields, retryable
 * problems), server error text, Retry-After, the progress meter, configuration errors, and
 * one transport run against a closed port. The server-backed tests are in test_http_server.c. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "check.h"
#include "http/openai.h"
#include "http/answer_scan.h"
#include "http/openai_json.h"
#include "report/progress.h"
#include "util/buf.h"

#define TEST_KEY "sk-test-SECRET-0123456789"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int contains(const char *hay, const char *needle)
{
    return hay && needle && strstr(hay, needle) != NULL;
}

static eval_request loglik(const char *ctx, const char *cont)
{
    eval_request r;
    memset(&r, 0, sizeof r);
    r.kind = cont ? REQ_LOGLIKELIHOOD : REQ_LOGLIKELIHOOD_ROLLING;
    r.context = (char *)ctx;
    r.continuation = (char *)cont;
    return r;
}

static eval_request gen(const char *prompt, char **until, size_t n_until)
{
    eval_request r;
    memset(&r, 0, sizeof r);
    r.kind = REQ_GENERATE;
    r.context = (char *)prompt;
    r.gen.until = until;
    r.gen.n_until = n_until;
    r.gen.top_p = -1;
    r.gen.seed = -1;
    return r;
}

/* ---- URLs, bodies --------------------------------------------------------------- */

static void test_endpoint_url(void)
{
    char err[256];
    char *u = oai_endpoint_url("http://h:8000/v1", 0, err, sizeof err);
    CHECK_STR(u, "http://h:8000/v1/completions");
    free(u);
    u = oai_endpoint_url("http://h:8000/v1//", 1, err, sizeof err);
    CHECK_STR(u, "http://h:8000/v1/chat/completions");
    free(u);
    u = oai_endpoint_url("http://h/v1/chat/completions/", 1, err, sizeof err);
    CHECK_STR(u, "http://h/v1/chat/completions");
    free(u);
    u = oai_endpoint_url("http://h/v1/completions", 0, err, sizeof err);
    CHECK_STR(u, "http://h/v1/completions");
    free(u);
    CHECK(oai_endpoint_url("http://h/v1/completions", 1, err, sizeof err) == NULL);
    CHECK(contains(err, "openai-chat"));
    CHECK(oai_endpoint_url("http://h/v1/chat/completions", 0, err, sizeof err) == NULL);
    CHECK(oai_endpoint_url("", 0, err, sizeof err) == NULL);
    CHECK(contains(err, "base_url is required"));
    CHECK(oai_endpoint_url(NULL, 0, err, sizeof err) == NULL);
}

static void test_loglik_body(void)
{
    char err[256];
    eval_request r = loglik("Q: \"hi\"\n\tA\\", " caf\xc3\xa9\x01");
    char *body = oai_build_body(&r, "org/m-1", 0, err, sizeof err);
    CHECK_STR(body, "{\"model\":\"org/m-1\",\"prompt\":\"Q: \\\"hi\\\"\\n\\tA\\\\ caf\xc3\xa9\\u0001\","
                    "\"max_tokens\":1,\"temperature\":0,\"echo\":true,\"logprobs\":1}");
    cJSON *j = cJSON_Parse(body);
    CHECK(cJSON_IsObject(j));
    CHECK_STR(cJSON_GetObjectItem(j, "prompt")->valuestring, "Q: \"hi\"\n\tA\\ caf\xc3\xa9\x01");
    cJSON_Delete(j);
    free(body);
    eval_request roll = loglik("some text", NULL);
    body = oai_build_body(&roll, "m", 0, err, sizeof err);
    CHECK_STR(body, "{\"model\":\"m\",\"prompt\":\"some text\",\"max_tokens\":1,\"temperature\":0,"
                    "\"echo\":true,\"logprobs\":1}");
    free(body);
    CHECK(oai_build_body(&r, "m", 1, err, sizeof err) == NULL); /* chat has no logprobs */
    CHECK(contains(err, "cannot serve loglikelihood"));
}

static void test_generate_body(void)
{
    char err[256];
    char *until[] = {"\n\n", "", "Question:"};
    eval_request r = gen("2+2=", until, 3);
    char *body = oai_build_body(&r, "m", 0, err, sizeof err);
    CHECK_STR(body, "{\"model\":\"m\",\"prompt\":\"2+2=\",\"max_tokens\":256,\"temperature\":0,"
                    "\"stop\":[\"\\n\\n\",\"Question:\"]}");
    free(body);
    /* no stop when the list is empty, top_p/seed only when >= 0, shortest doubles */
    r = gen("x", NULL, 0);
    r.gen.max_tokens = 32;
    r.gen.temperature = 0.7;
    r.gen.top_p = 0.95;
    r.gen.seed = 1234567890123LL;
    body = oai_build_body(&r, "m", 0, err, sizeof err);
    CHECK_STR(body, "{\"model\":\"m\",\"prompt\":\"x\",\"max_tokens\":32,\"temperature\":0.7,"
                    "\"top_p\":0.95,\"seed\":1234567890123}");
    free(body);
    r.gen.temperature = INFINITY;
    CHECK(oai_build_body(&r, "m", 0, err, sizeof err) == NULL);
    CHECK(contains(err, "temperature"));
}

static void test_chat_body(void)
{
    char err[256];
    char *until[] = {"</s>"};
    eval_request r = gen("Say \"hi\"", until, 1);
    r.gen.top_p = 0;
    char *body = oai_build_body(&r, "m", 1, err, sizeof err);
    CHECK_STR(body, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"Say \\\"hi\\\"\"}],"
                    "\"max_tokens\":256,\"temperature\":0,\"stop\":[\"</s>\"],\"top_p\":0}");
    free(body);
    r.messages_json = "[{\"role\":\"system\",\"content\":\"be brief\"},{\"role\":\"user\",\"content\":\"q\"}]";
    body = oai_build_body(&r, "m", 1, err, sizeof err);
    CHECK(contains(body, "\"messages\":[{\"role\":\"system\",\"content\":\"be brief\"},"
                         "{\"role\":\"user\",\"content\":\"q\"}],\"max_tokens\""));
    cJSON *j = cJSON_Parse(body);
    CHECK(cJSON_IsObject(j));
    cJSON_Delete(j);
    free(body);
    r.messages_json = "[{\"role\":";
    CHECK(oai_build_body(&r, "m", 1, err, sizeof err) == NULL);
    CHECK(contains(err, "messages_json"));
}

/* ---- helpers ---------------------------------------------------------------------- */

static void test_utf8_and_stop(void)
{
    CHECK(oai_utf8_codepoints("Caf\xc3\xa9:", 6) == 5);
    CHECK(oai_utf8_codepoints("\xf0\x9f\x98\x80", 4) == 1); /* one code point, as in Python */
    CHECK(oai_utf8_codepoints("\xe2\x82\xac" "a", 4) == 2);
    CHECK(oai_utf8_codepoints("a\x80" "b", 3) == 3);         /* a stray continuation byte */
    CHECK(oai_utf8_codepoints("\xc3", 1) == 1);             /* a truncated sequence */
    CHECK(oai_utf8_codepoints("", 0) == 0);
    char *until[] = {"Question:", "", "\n\n", NULL};
    const char *t = "42\n\nQuestion: more";
    CHECK(oai_cut_at_stop(t, strlen(t), until, 4) == 2);
    CHECK(oai_cut_at_stop(t, strlen(t), until, 1) == 4);
    CHECK(oai_cut_at_stop(t, strlen(t), NULL, 0) == strlen(t));
    char *none[] = {"zzz"};
    CHECK(oai_cut_at_stop(t, strlen(t), none, 1) == strlen(t));
    char *whole[] = {"42"};
    CHECK(oai_cut_at_stop(t, strlen(t), whole, 1) == 0);
}

static void test_server_message_and_retry_after(void)
{
    const char *e1 = "{\"error\":{\"message\":\"model 'x' not\\nfound\",\"type\":\"invalid\"}}";
    char *m = oai_server_message(e1, strlen(e1), 300);
    CHECK_STR(m, "model 'x' not found");
    free(m);
    const char *e2 = "{\"object\":\"error\",\"message\":\"max_tokens too large\",\"code\":400}";
    m = oai_server_message(e2, strlen(e2), 300);
    CHECK_STR(m, "max_tokens too large");
    free(m);
    const char *e3 = "{\"detail\":\"Not Found\"}";
    m = oai_server_message(e3, strlen(e3), 300);
    CHECK_STR(m, "Not Found");
    free(m);
    m = oai_server_message("<html>Bad Gateway</html>\r\n", 26, 300);
    CHECK_STR(m, "<html>Bad Gateway</html>  ");
    free(m);
    m = oai_server_message("\xc3\xa9\xc3\xa9\xc3\xa9", 6, 3); /* never splits a code point */
    CHECK_STR(m, "\xc3\xa9...");
    free(m);
    m = oai_server_message(NULL, 0, 300);
    CHECK_STR(m, "");
    free(m);
    double s = -1;
    CHECK(oai_retry_after("Retry-After: 5\r\n", 16, &s) == 1 && s == 5);
    CHECK(oai_retry_after("retry-after:1.5\r\n", 17, &s) == 1 && s == 1.5);
    /* an HTTP-date (RFC 9110 10.2.3): seconds from now until then, 0 once it has passed */
    const char *date = "Retry-After: Wed, 21 Oct 2015 07:28:00 GMT\r\n";
    CHECK(oai_retry_after(date, strlen(date), &s) == 1 && s == 0);
    char line[96];
    time_t later = time(NULL) + 30;
    struct tm tm;
    gmtime_r(&later, &tm);
    size_t len = strftime(line, sizeof line, "Retry-After: %a, %d %b %Y %H:%M:%S GMT\r\n", &tm);
    s = -1;
    CHECK(oai_retry_after(line, len, &s) == 1 && s >= 28 && s <= 30);
    len = strftime(line, sizeof line, "retry-after:  %A, %d-%b-%y %H:%M:%S GMT \r\n", &tm); /* RFC 850 */
    s = -1;
    CHECK(oai_retry_after(line, len, &s) == 1 && s >= 28 && s <= 30);
    CHECK(oai_retry_after("Retry-After: soon\r\n", 19, &s) == 0);
    CHECK(oai_retry_after("Retry-After: 5 s\r\n", 18, &s) == 0);
    CHECK(oai_retry_after("Content-Type: x\r\n", 17, &s) == 0);
    CHECK(oai_retry_after("Retry-After: \r\n", 15, &s) == 0);
}

/* ---- response parsing ------------------------------------------------------------- */

static oai_verdict parse(const eval_request *r, int chat, const char *body, eval_response *out,
                         oai_problem *why)
{
    memset(out, 0, sizeof *out);
    memset(why, 0, sizeof *why);
    return oai_parse_response(r, chat, body, strlen(body), out, why);
}

/* context "Café:" (5 code points, 6 bytes) + continuation " é": byte offsets would put the
   boundary inside " é" and count ":" as continuation. */
static void test_parse_echo_multibyte(void)
{
    const char *body =
        "{\"choices\":[{\"text\":\"Caf\xc3\xa9: \xc3\xa9 the\",\"logprobs\":{"
        "\"tokens\":[\"Caf\",\"\xc3\xa9\",\":\",\" \xc3\xa9\",\" the\"],"
        "\"token_logprobs\":[null,-1.0,-0.5,-2.25,-3.0],"
        "\"text_offset\":[0,3,4,5,7],"
        "\"top_logprobs\":[null,{\"\xc3\xa9\":-1.0},{\":\":-0.5},{\" e\":-2.5,\" \xc3\xa9\":-2.25},"
        "{\" the\":-3.0}]}}],\"usage\":{\"prompt_tokens\":4,\"completion_tokens\":1}}";
    eval_request r = loglik("Caf\xc3\xa9:", " \xc3\xa9");
    eval_response out;
    oai_problem why;
    CHECK(parse(&r, 0, body, &out, &why) == OAI_OK);
    CHECK(out.status == RESP_OK);
    CHECK_NEAR(out.logprob, -2.25, 1e-12);
    CHECK(out.is_greedy == 1);
    CHECK(out.prompt_tokens == 4 && out.completion_tokens == 1);
    CHECK(out.text == NULL);
    /* the same echo scored as a rolling loglikelihood: all but the null first and the
       generated " the" */
    eval_request roll = loglik("Caf\xc3\xa9: \xc3\xa9", NULL);
    CHECK(parse(&roll, 0, body, &out, &why) == OAI_OK);
    CHECK_NEAR(out.logprob, -3.75, 1e-12);
}

/* context "Hello wor" + continuation "ld there": the token " world" straddles the boundary
   and counts as continuation; " the" (the generated token) is dropped. */
static void test_parse_echo_straddle(void)
{
    const char *body =
        "{\"choices\":[{\"text\":\"Hello world there the\",\"logprobs\":{"
        "\"tokens\":[\"Hello\",\" world\",\" there\",\" the\"],"
        "\"token_logprobs\":[null,-1.5,-0.25,-9.0],"
        "\"text_offset\":[0,5,11,17],"
        "\"top_logprobs\":[null,{\" world\":-1.5},{\" there\":-0.25,\" here\":-0.5},{\" the\":-9}]}}]}";
    eval_request r = loglik("Hello wor", "ld there");
    eval_response out;
    oai_problem why;
    CHECK(parse(&r, 0, body, &out, &why) == OAI_OK);
    CHECK_NEAR(out.logprob, -1.75, 1e-12);
    CHECK(out.is_greedy == 1);
    CHECK(out.prompt_tokens == 0); /* no usage block */
    /* a continuation of exactly the last token; the argmax differs -> not greedy */
    const char *body2 =
        "{\"choices\":[{\"logprobs\":{"
        "\"tokens\":[\"Hello\",\" world\",\" there\",\" the\"],"
        "\"token_logprobs\":[null,-1.5,-0.25,-9.0],"
        "\"text_offset\":[0,5,11,17],"
        "\"top_logprobs\":[null,{\" world\":-1.5},{\" here\":-0.1,\" there\":-0.25},{\" the\":-9}]}}]}";
    r = loglik("Hello world", " there");
    CHECK(parse(&r, 0, body2, &out, &why) == OAI_OK);
    CHECK_NEAR(out.logprob, -0.25, 1e-12);
    CHECK(out.is_greedy == 0);
    /* top_logprobs missing entirely: not greedy, logprob still summed */
    const char *body3 =
        "{\"choices\":[{\"logprobs\":{\"tokens\":[\"Hello\",\" world\",\" the\"],"
        "\"token_logprobs\":[null,-1.5,-9.0],\"text_offset\":[0,5,11]}}]}";
    r = loglik("Hello", " world");
    CHECK(parse(&r, 0, body3, &out, &why) == OAI_OK);
    CHECK_NEAR(out.logprob, -1.5, 1e-12);
    CHECK(out.is_greedy == 0);
}

static void test_parse_echo_failures(void)
{
    eval_response out;
    oai_problem why;
    /* empty context: the continuation's first token has no logprob -> FAILED, not retried */
    const char *nolp =
        "{\"choices\":[{\"logprobs\":{\"tokens\":[\"Hi\",\" there\",\" the\"],"
        "\"token_logprobs\":[null,-1.0,-1.0],\"text_offset\":[0,2,8],\"top_logprobs\":[null,{},{}]}}]}";
    eval_request r = loglik("", "Hi there");
    CHECK(parse(&r, 0, nolp, &out, &why) == OAI_FAIL);
    CHECK_STR(why.detail, "server returned no logprob for a continuation token");
    CHECK(out.status == RESP_PENDING);
    /* an echo that stops before the continuation (a server ignoring echo) */
    const char *noecho =
        "{\"choices\":[{\"logprobs\":{\"tokens\":[\" the\"],\"token_logprobs\":[-1.0],"
        "\"text_offset\":[0],\"top_logprobs\":[{}]}}]}";
    r = loglik("Hello world", " there");
    CHECK(parse(&r, 0, noecho, &out, &why) == OAI_FAIL);
    CHECK(contains(why.detail, "echo"));
    /* retryable: not JSON, truncated JSON, missing or inconsistent fields, an error object */
    r = loglik("a", " b");
    CHECK(parse(&r, 0, "<html>upstream hiccup</html>", &out, &why) == OAI_RETRY);
    CHECK_STR(why.head, "non-JSON response");
    CHECK_STR(why.detail, "<html>upstream hiccup</html>");
    CHECK(parse(&r, 0, "{\"choices\":[{\"logprobs\":{\"tokens\":[\"a\",", &out, &why) == OAI_RETRY);
    CHECK_STR(why.head, "non-JSON response");
    CHECK(parse(&r, 0, "", &out, &why) == OAI_RETRY);
    CHECK_STR(why.detail, "(empty body)");
    CHECK(parse(&r, 0, "{\"choices\":[{\"text\":\"a b\"}]}", &out, &why) == OAI_RETRY);
    CHECK_STR(why.head, "malformed response");
    CHECK(contains(why.detail, "logprobs"));
    CHECK(parse(&r, 0, "{\"choices\":[]}", &out, &why) == OAI_RETRY);
    CHECK(parse(&r, 0, "[1,2]", &out, &why) == OAI_RETRY);
    const char *mismatch = "{\"choices\":[{\"logprobs\":{\"tokens\":[\"a\",\" b\"],"
                           "\"token_logprobs\":[null],\"text_offset\":[0,1]}}]}";
    CHECK(parse(&r, 0, mismatch, &out, &why) == OAI_RETRY);
    CHECK(contains(why.detail, "length"));
    const char *err = "{\"error\":{\"message\":\"engine overloaded\",\"code\":503}}";
    CHECK(parse(&r, 0, err, &out, &why) == OAI_RETRY);
    CHECK_STR(why.head, "error response");
    CHECK_STR(why.detail, "engine overloaded");
    char big[400];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    CHECK(parse(&r, 0, big, &out, &why) == OAI_RETRY);
    CHECK(strlen(why.detail) == 103); /* 100 bytes and "..." */
}

static void test_parse_generate(void)
{
    eval_response out;
    oai_problem why;
    char *until[] = {"\n\n", "Question:"};
    eval_request r = gen("2+2=", until, 2);
    const char *c = "{\"choices\":[{\"text\":\" 4.\\n\\nQuestion: 3+3=\",\"finish_reason\":\"length\"}],"
                    "\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":7,\"total_tokens\":10}}";
    CHECK(parse(&r, 0, c, &out, &why) == OAI_OK);
    CHECK_STR(out.text, " 4.");
    CHECK(out.reasoning == NULL);
    CHECK(out.prompt_tokens == 3 && out.completion_tokens == 7);
    response_free(&out);
    CHECK(parse(&r, 0, "{\"choices\":[{\"message\":{\"content\":\"x\"}}]}", &out, &why) == OAI_RETRY);
    CHECK(contains(why.detail, "choices[0].text"));
    /* chat: content null -> "", reasoning_content, reasoning */
    const char *ch1 = "{\"choices\":[{\"message\":{\"role\":\"assistant\",\"content\":null,"
                      "\"reasoning_content\":\"let me think\"}}]}";
    CHECK(parse(&r, 1, ch1, &out, &why) == OAI_OK);
    CHECK_STR(out.text, "");
    CHECK_STR(out.reasoning, "let me think");
    response_free(&out);
    const char *ch2 = "{\"choices\":[{\"message\":{\"content\":\"4\\n\\nbye\",\"reasoning\":\"hm\"}}]}";
    CHECK(parse(&r, 1, ch2, &out, &why) == OAI_OK);
    CHECK_STR(out.text, "4");
    CHECK_STR(out.reasoning, "hm");
    response_free(&out);
    CHECK(parse(&r, 1, "{\"choices\":[{\"text\":\"4\"}]}", &out, &why) == OAI_RETRY);
    CHECK(contains(why.detail, "message"));
    CHECK(parse(&r, 1, "{\"choices\":[{\"message\":{\"content\":\"4\"", &out, &why) == OAI_RETRY);
}

/* ---- progress meter ------------------------------------------------------------- */

static void test_progress(void)
{
    char line[256];
    progress_format(line, sizeof line, "gsm8k", 30, 120, 2, 1, 4500, 90.0);
    CHECK_STR(line, "gsm8k  30/120 (25%)  cached 0  ok 28  failed 2  retrying 1  20 req/min  50 tok/s  "
                    "elapsed 01:30  ETA 04:30");
    progress_format(line, sizeof line, NULL, 0, 10, 0, 0, 0, 0.0);
    CHECK_STR(line, "0/10 (0%)  cached 0  ok 0  failed 0  retrying 0  0 req/min  0 tok/s  elapsed 00:00  "
                    "ETA --:--");
    progress_format(line, sizeof line, "t", 1, 2, 0, 0, 0, 3725.0);
    CHECK(contains(line, "elapsed 1:02:05  ETA 1:02:05"));
    /* cached requests count as done but not in the request rate or the ETA */
    progress_counts c = {"all", 100, 40, 20, 0, 3, 600};
    progress_format_counts(line, sizeof line, &c, 5, 1, 60.0);
    CHECK_STR(line, "all    60/100 (60%)  cached 40  ok 20  failed 0  retrying 3  20 req/min  10 tok/s  "
                    "elapsed 01:00  ETA 02:00");
    progress_format_counts(line, sizeof line, &c, 5, 0, 60.0);
    CHECK_STR(line, "all    60/100 (60%)  cached 40  ok 20  failed 0  retrying 3");

    /* not a terminal: no line before 10 s, one at finish, nothing after */
    unsetenv("EVALLUA_NO_PROGRESS");
    FILE *f = tmpfile();
    progress *p = progress_new("task", 10, f);
    progress_update(p, 1, 0, 0, 5);
    progress_update(p, 3, 1, 0, 9);
    CHECK(ftell(f) == 0);
    progress_finish(p);
    progress_update(p, 4, 1, 0, 9);
    progress_finish(p);
    progress_free(p);
    rewind(f);
    char got[256] = "";
    CHECK(fgets(got, sizeof got, f) != NULL);
    CHECK(contains(got, "task  3/10 (30%)  cached 0  ok 2  failed 1  retrying 0"));
    CHECK(fgets(got, sizeof got, f) == NULL);
    fclose(f);

    /* several tasks: per-task lines, then the overall line with the rates */
    f = tmpfile();
    p = progress_open(f);
    CHECK(progress_add_task(p, "gsm8k", 4) == 0 && progress_add_task(p, "arc", 3) == 1);
    CHECK(progress_tasks(p) == 2);
    progress_sending(p, 0, 3); /* one gsm8k request was cached */
    progress_sending(p, 1, 3);
    progress_result(p, 0, 1, 10);
    progress_retrying(p, 1, +1);
    progress_result(p, 1, 0, 0);
    progress_retrying(p, 1, -1);
    progress_tick(p);
    CHECK(ftell(f) == 0);
    progress_finish(p);
    progress_free(p);
    rewind(f);
    const char *want[] = {"gsm8k  2/4 (50%)  cached 1  ok 1  failed 0  retrying 0",
                          "arc    1/3 (33%)  cached 0  ok 0  failed 1  retrying 0",
                          "all    3/7 (43%)  cached 1  ok 1  failed 1  retrying 0  "};
    for (int i = 0; i < 3; i++) {
        CHECK(fgets(got, sizeof got, f) != NULL);
        CHECK(strncmp(got, want[i], strlen(want[i])) == 0);
    }
    CHECK(fgets(got, sizeof got, f) == NULL);
    fclose(f);
    /* settle: what was never reported came from the cache */
    f = tmpfile();
    p = progress_open(f);
    progress_add_task(p, "x", 5);
    progress_result(p, 0, 1, 0);
    progress_settle(p);
    progress_finish(p);
    progress_free(p);
    rewind(f);
    CHECK(fgets(got, sizeof got, f) != NULL && contains(got, "x  5/5 (100%)  cached 4  ok 1"));
    fclose(f);

    setenv("EVALLUA_NO_PROGRESS", "1", 1);
    f = tmpfile();
    p = progress_new("task", 10, f);
    progress_update(p, 10, 0, 0, 0);
    progress_finish(p);
    progress_free(p);
    CHECK(ftell(f) == 0);
    fclose(f);
    progress_update(NULL, 1, 0, 0, 0); /* NULL is accepted everywhere */
    progress_result(NULL, 0, 1, 0);
    progress_finish(NULL);
    progress_free(NULL);
}

/* ---- batches, finish_reason, server quirks ------------------------------------------- */

static void test_batch_body(void)
{
    char err[256];
    char *until[] = {"\n\n"}, *until2[] = {"\n\n"}, *other[] = {"Q:"};
    eval_request reqs[5] = {gen("a", until, 1), gen("b\"", until2, 1), gen("c", other, 1),
                            loglik("ctx", " cont"), loglik("roll", NULL)};
    CHECK(oai_batchable(&reqs[0], &reqs[1]));  /* equal until lists, other arrays */
    CHECK(!oai_batchable(&reqs[0], &reqs[2])); /* other stop strings */
    CHECK(!oai_batchable(&reqs[0], &reqs[3])); /* other kind */
    CHECK(oai_batchable(&reqs[3], &reqs[4]));  /* loglikelihood and rolling: both echo */
    eval_request hot = gen("a", until, 1);
    hot.gen.temperature = 0.5;
    CHECK(!oai_batchable(&reqs[0], &hot));
    size_t idx[] = {0, 1};
    buf b = {0};
    CHECK(oai_write_batch_body(&b, reqs, idx, 2, "m", err, sizeof err) == 0);
    CHECK_STR(buf_str(&b), "{\"model\":\"m\",\"prompt\":[\"a\",\"b\\\"\"],\"max_tokens\":256,"
                           "\"temperature\":0,\"stop\":[\"\\n\\n\"]}");
    buf_clear(&b);
    size_t echo[] = {3, 4};
    CHECK(oai_write_batch_body(&b, reqs, echo, 2, "m", err, sizeof err) == 0);
    CHECK_STR(buf_str(&b), "{\"model\":\"m\",\"prompt\":[\"ctx cont\",\"roll\"],\"max_tokens\":1,"
                           "\"temperature\":0,\"echo\":true,\"logprobs\":1}");
    buf_clear(&b);
    CHECK(oai_write_batch_body(&b, reqs, idx, 1, "m", err, sizeof err) == 0); /* one: a plain body */
    CHECK_STR(buf_str(&b), "{\"model\":\"m\",\"prompt\":\"a\",\"max_tokens\":256,\"temperature\":0,"
                           "\"stop\":[\"\\n\\n\"]}");
    buf_free(&b);
}

/* answer_scan (the fast reader of generation answers) against cJSON on the same bodies: a UTF-8
   byte-order mark in front makes answer_scan give up and cJSON (which skips it) read the body,
   so every verdict, text, flag, usage share and message must come out the same both ways. */
static void parse_both_ways(const char *body, int expect_fast)
{
    char *until[] = {"\n\n", "Q:"};
    eval_request reqs[3] = {gen("aaaa", until, 2), gen("bb", until, 2), gen("c", until, 2)};
    size_t idx[] = {0, 1, 2};
    buf bom = {0};
    buf_puts(&bom, "\xEF\xBB\xBF");
    buf_puts(&bom, body);
    for (size_t n = 1; n <= 3; n += 2) {
        eval_response r[2][3];
        oai_verdict v[2], each[2][3];
        oai_problem why[2][3];
        memset(r, 0, sizeof r);
        memset(why, 0, sizeof why);
        v[0] = oai_parse_batch(reqs, idx, n, 0, body, strlen(body), r[0], each[0], why[0]);
        v[1] = oai_parse_batch(reqs, idx, n, 0, bom.data, bom.len, r[1], each[1], why[1]);
        int same = v[0] == v[1];
        for (size_t k = 0; same && v[0] == OAI_OK && k < n; k++) {
            same = each[0][k] == each[1][k] && r[0][k].status == r[1][k].status &&
                   r[0][k].truncated == r[1][k].truncated && r[0][k].prompt_tokens == r[1][k].prompt_tokens &&
                   r[0][k].completion_tokens == r[1][k].completion_tokens &&
                   strcmp(r[0][k].text ? r[0][k].text : "(null)", r[1][k].text ? r[1][k].text : "(null)") == 0;
            if (each[0][k] != OAI_OK)
                same = same && strcmp(why[0][k].head, why[1][k].head) == 0 &&
                       strcmp(why[0][k].detail, why[1][k].detail) == 0;
        }
        if (!same) fprintf(stderr, "readers differ (n=%zu) on: %s\n", n, body);
        CHECK(same);
        for (size_t k = 0; k < n; k++) {
            response_free(&r[0][k]);
            response_free(&r[1][k]);
        }
    }
    scan_answer a;
    CHECK(answer_scan(&a, body, strlen(body)) == expect_fast);
    answer_scan_free(&a);
    buf_free(&bom); /* the requests borrow their strings (gen) */
}

static void test_answer_scan_matches_cjson(void)
{
    static const struct { const char *body; int fast; } cases[] = {
        /* what vLLM sends */
        {"{\"id\":\"cmpl-1\",\"object\":\"text_completion\",\"created\":1,\"model\":\"m\",\"choices\":[{\"index\":0,"
         "\"text\":\" The answer is 42.\\n\\nQ: next\",\"logprobs\":null,\"finish_reason\":\"stop\",\"stop_reason\":null}],"
         "\"usage\":{\"prompt_tokens\":7,\"total_tokens\":12,\"completion_tokens\":5}}", 1},
        /* escapes, raw UTF-8, a length stop, spaces everywhere */
        {" {\n \"choices\" : [ { \"text\" : \"a\\\"b\\\\c\\/d\\te\\r\\nf\\b\\f caf\xc3\xa9 Q: x\" , \"finish_reason\" : \"length\" } ] ,"
         " \"usage\" : { \"prompt_tokens\" : 3 , \"completion_tokens\" : 2 } }\n", 1},
        /* a batch out of order, a missing choice, a duplicate, an index past the end, a
           negative one, a non-object choice, nested values to skip */
        {"{\"choices\":[{\"index\":2,\"text\":\"two\",\"logprobs\":{\"a\":[1,-2.5e3,{\"b\":null,\"c\":[true,false]}]}},"
         "{\"index\":0,\"text\":\"zero\"},{\"index\":0,\"text\":\"again\"},{\"index\":7,\"text\":\"far\"},"
         "{\"index\":-1,\"text\":\"neg\"},[1,2],\"str\"],\"usage\":{\"prompt_tokens\":9,\"completion_tokens\":4}}", 1},
        /* the first key counts: a number text, then a string one; a null text; an odd finish */
        {"{\"choices\":[{\"text\":5,\"text\":\"late\"}],\"choices\":[{\"text\":\"ignored\"}]}", 1},
        {"{\"choices\":[{\"index\":1,\"text\":null},{\"index\":0,\"text\":\"\",\"finish_reason\":[\"length\"]}]}", 1},
        /* usage that is not usable: negative, too large, a string, not an object */
        {"{\"choices\":[{\"text\":\"x\"}],\"usage\":{\"prompt_tokens\":-3,\"completion_tokens\":3000000000}}", 1},
        {"{\"choices\":[{\"text\":\"x\"}],\"usage\":{\"prompt_tokens\":\"7\"}}", 1},
        {"{\"choices\":[{\"text\":\"x\"}],\"usage\":[1,2]}", 1},
        /* left to cJSON: \u escapes, fractions, trailing bytes, no choices, an error, empty
           choices, a first choice that is no object, broken JSON */
        {"{\"choices\":[{\"text\":\"caf\\u00e9 \\ud83d\\ude00\"}]}", 0},
        {"{\"choices\":[{\"text\":\"x\",\"index\":0.0}],\"usage\":{\"prompt_tokens\":1.5e1}}", 0},
        {"{\"choices\":[{\"text\":\"x\"}]} trailing", 0},
        {"{\"object\":\"text_completion\"}", 0},
        {"{\"error\":{\"message\":\"overloaded\",\"type\":\"server_error\"}}", 0},
        {"{\"choices\":[]}", 0},
        {"{\"choices\":[\"x\",{\"text\":\"y\"}]}", 0},
        {"{\"choices\":[{\"text\":\"cut", 0},
        {"{\"choices\":[{\"text\":\"x\"}],}", 0},
        {"[1,2]", 0},
        {"", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) parse_both_ways(cases[i].body, cases[i].fast);
}

static void test_parse_batch(void)
{
    char *until[] = {"\n\n"};
    eval_request reqs[3] = {gen("aaaa", until, 1), gen("bb", until, 1), gen("c", until, 1)};
    eval_response resps[3];
    memset(resps, 0, sizeof resps);
    oai_verdict each[3];
    oai_problem why[3];
    size_t idx[] = {0, 1, 2};
    /* choices out of order, matched by index; request 1's choice is missing */
    const char *body = "{\"choices\":[{\"index\":2,\"text\":\"three\\n\\nmore\",\"finish_reason\":\"stop\"},"
                       "{\"index\":0,\"text\":\"one one\",\"finish_reason\":\"length\"}],"
                       "\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":5}}";
    CHECK(oai_parse_batch(reqs, idx, 3, 0, body, strlen(body), resps, each, why) == OAI_OK);
    CHECK(each[0] == OAI_OK && each[1] == OAI_RETRY && each[2] == OAI_OK);
    CHECK_STR(resps[0].text, "one one");
    CHECK_STR(resps[2].text, "three");
    CHECK(resps[0].truncated == 1 && resps[2].truncated == 0);
    CHECK(resps[1].status == RESP_PENDING && resps[1].text == NULL);
    CHECK(contains(why[1].detail, "no choice with index 1"));
    /* the usage is shared out and adds up */
    CHECK(resps[0].prompt_tokens + resps[2].prompt_tokens == 7);
    CHECK(resps[0].completion_tokens + resps[2].completion_tokens == 5);
    CHECK(resps[0].prompt_tokens > resps[2].prompt_tokens); /* "aaaa" is longer than "c" */
    for (int i = 0; i < 3; i++) response_free(&resps[i]);
    /* a body that is not JSON: the whole batch */
    CHECK(oai_parse_batch(reqs, idx, 3, 0, "<html>", 6, resps, each, why) == OAI_RETRY);
    CHECK_STR(why[0].head, "non-JSON response");
    /* chat: null content from a reasoning model is an empty answer, reasoning kept */
    eval_response r;
    memset(&r, 0, sizeof r);
    oai_problem w;
    const char *chat = "{\"choices\":[{\"message\":{\"content\":null,\"reasoning_content\":\"thinking\"},"
                       "\"finish_reason\":\"length\"}]}";
    CHECK(oai_parse_response(&reqs[0], 1, chat, strlen(chat), &r, &w) == OAI_OK);
    CHECK_STR(r.text, "");
    CHECK_STR(r.reasoning, "thinking");
    CHECK(r.truncated == 1);
    response_free(&r);
}

static void test_quirk_messages(void)
{
    CHECK(oai_is_context_error("This model's maximum context length is 2048 tokens. However, you requested 2100 tokens"));
    CHECK(oai_is_context_error("prompt is too long: 5000 tokens > 4096 maximum"));
    CHECK(oai_is_context_error("Input length exceeds max_model_len"));
    CHECK(!oai_is_context_error("'messages' is required"));
    CHECK(oai_is_logprobs_error("1 validation error: body.logprobs: Input should be a valid boolean"));
    CHECK(oai_is_logprobs_error("echo is not supported together with logprobs for this model"));
    CHECK(oai_is_logprobs_error("Echo is not supported"));
    CHECK(!oai_is_logprobs_error("'prompt' is required"));
}

/* ---- backend: configuration and a closed port ----------------------------------- */

static openai_config base_config(const char *url)
{
    openai_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.base_url = url;
    cfg.model = "m";
    cfg.api_key = TEST_KEY;
    cfg.max_retries = -1;
    return cfg;
}

static void test_config(void)
{
    char err[256];
    openai_config cfg = base_config("http://127.0.0.1:1/v1");
    cfg.model = NULL;
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "model"));
    cfg = base_config("localhost:8000/v1");
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "base_url"));
    cfg = base_config("ftp://h/v1");
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "http://"));
    cfg = base_config("http://h/v1/completions");
    cfg.chat = 1;
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    cfg = base_config("http://h/v1/");
    backend *b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (!b) return;
    CHECK_STR(b->vt->name, "openai-completions");
    CHECK(b->vt->kinds == (REQ_LOGLIKELIHOOD | REQ_LOGLIKELIHOOD_ROLLING | REQ_GENERATE));
    CHECK(b->vt->run(b, NULL, NULL, 0, err, sizeof err) == 0);
    b->vt->destroy(b);
    cfg.chat = 1;
    b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b && strcmp(b->vt->name, "openai-chat") == 0 && b->vt->kinds == REQ_GENERATE);
    if (b) b->vt->destroy(b);
    /* several endpoints: '|' or whitespace between them; each is checked */
    cfg = base_config("http://a:1/v1| http://b:2/v1/completions\thttp://c:3/v1");
    b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    openai_endpoint_stats eps[4];
    CHECK(b && openai_backend_endpoints(b, eps, 4) == 3);
    if (b) {
        CHECK_STR(eps[0].url, "http://a:1/v1/completions");
        CHECK_STR(eps[1].url, "http://b:2/v1/completions");
        CHECK_STR(eps[2].url, "http://c:3/v1/completions");
        CHECK(openai_backend_is(b) && openai_backend_counters(b)->http_requests == 0);
        b->vt->destroy(b);
    }
    cfg = base_config("http://a:1/v1|ftp://b/v1");
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "ftp://b/v1"));
    cfg = base_config(" | ");
    CHECK(openai_backend_new(&cfg, err, sizeof err) == NULL);
    CHECK(contains(err, "base_url is required"));
}

static void test_connection_refused(void)
{
    char err[256] = "";
    openai_config cfg = base_config("http://127.0.0.1:1/v1");
    cfg.max_retries = 1;
    cfg.retry_base_s = 0.01;
    cfg.timeout_s = 10;
    backend *b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (!b) return;
    char *until[] = {"\n"};
    eval_request reqs[3] = {loglik("a", " b"), loglik("text", NULL), gen("p", until, 1)};
    eval_response resps[3];
    memset(resps, 0, sizeof resps);
    double t0 = now_s();
    CHECK(b->vt->run(b, reqs, resps, 3, err, sizeof err) == 0);
    CHECK(now_s() - t0 < 5.0);
    for (int i = 0; i < 3; i++) {
        CHECK(resps[i].status == RESP_FAILED);
        CHECK(contains(resps[i].error, "cannot reach http://127.0.0.1:1/v1/completions: "));
        CHECK(contains(resps[i].error, "onnect")); /* curl's "Couldn't connect to server" */
        CHECK(contains(resps[i].error, "(after 2 attempts)"));
        CHECK(!contains(resps[i].error, TEST_KEY));
        CHECK(resps[i].attempts == 2);
        if (i == 0) printf("connection refused: %s\n", resps[i].error);
        response_free(&resps[i]);
    }
    CHECK(b->stats.requests == 3 && b->stats.failed == 3 && b->stats.retries == 3);
    CHECK(b->stats.wall_seconds > 0);
    b->vt->destroy(b);
}

/* A chat backend fails loglikelihood requests up front, without a network attempt. */
static void test_chat_rejects_loglikelihood(void)
{
    char err[256] = "";
    openai_config cfg = base_config("http://127.0.0.1:1/v1");
    cfg.chat = 1;
    cfg.max_retries = 0;
    backend *b = openai_backend_new(&cfg, err, sizeof err);
    CHECK(b != NULL);
    if (!b) return;
    eval_request reqs[2] = {loglik("a", " b"), loglik("t", NULL)};
    eval_response resps[2];
    memset(resps, 0, sizeof resps);
    CHECK(b->vt->run(b, reqs, resps, 2, err, sizeof err) == 0);
    CHECK(resps[0].status == RESP_FAILED && resps[0].attempts == 0);
    CHECK(contains(resps[0].error, "openai-chat cannot serve loglikelihood requests"));
    CHECK(contains(resps[1].error, "loglikelihood_rolling"));
    CHECK(b->stats.failed == 2 && b->stats.retries == 0);
    response_free(&resps[0]);
    response_free(&resps[1]);
    b->vt->destroy(b);
}

int main(void)
{
    test_endpoint_url();
    test_loglik_body();
    test_generate_body();
    test_chat_body();
    test_utf8_and_stop();
    test_server_message_and_retry_after();
    test_parse_echo_multibyte();
    test_parse_echo_straddle();
    test_parse_echo_failures();
    test_parse_generate();
    test_progress();
    test_batch_body();
    test_parse_batch();
    test_answer_scan_matches_cjson();
    test_quirk_messages();
    test_config();
    test_connection_refused();
    test_chat_rejects_loglikelihood();
    return check_summary();
}
