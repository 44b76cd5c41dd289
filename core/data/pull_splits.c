/* pull_splits.c — after a 404 from /rows, ask the API's /splits which configs and splits the
 * dataset has, so the error can say what to ask for instead. One blocking request per dataset
 * that failed; never on the page path. */
#include "pull_internal.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#define SPLITS_MAX_BYTES ((size_t)1 << 20)
#define SPLITS_MAX_LISTED 20

static size_t on_body(char *data, size_t size, size_t nmemb, void *userp)
{
    buf *b = userp;
    size_t n = size * nmemb;
    if (b->len + n > SPLITS_MAX_BYTES) return 0;
    buf_append(b, data, n);
    return n;
}

/* GET url into body; the HTTP status, or 0 when the request failed. */
static long http_get(const char *url, const char *token, buf *body)
{
    CURL *e = curl_easy_init();
    if (!e) return 0;
    struct curl_slist *h = NULL;
    buf auth = {0};
    if (token) {
        buf_printf(&auth, "Authorization: Bearer %s", token);
        h = curl_slist_append(NULL, auth.data);
    }
    long status = 0;
    CURLcode c = curl_easy_setopt(e, CURLOPT_URL, url);
    if (!c) c = curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 15000L);
    if (!c) c = curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    if (!c) c = curl_easy_setopt(e, CURLOPT_WRITEDATA, body);
    if (!c && h) c = curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    if (!c) c = curl_easy_setopt(e, CURLOPT_USERAGENT, "evallua/" EVALLUA_VERSION " (data pull)");
    if (!c) c = curl_easy_perform(e);
    if (!c) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    if (auth.data) memset(auth.data, 0, auth.len);
    buf_free(&auth);
    curl_easy_cleanup(e);
    return c ? 0 : status;
}

/* "config/split, ..." from a /splits reply, at most SPLITS_MAX_LISTED; NULL when none. */
static char *list_from_reply(const buf *body)
{
    cJSON *root = cJSON_ParseWithLength(buf_str(body), body->len);
    const cJSON *splits = cJSON_GetObjectItemCaseSensitive(root, "splits");
    buf out = {0};
    size_t n = 0;
    for (const cJSON *s = cJSON_IsArray(splits) ? splits->child : NULL; s; s = s->next) {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(s, "config");
        const cJSON *sp = cJSON_GetObjectItemCaseSensitive(s, "split");
        if (!cJSON_IsString(c) || !cJSON_IsString(sp)) continue;
        if (n++ < SPLITS_MAX_LISTED) buf_printf(&out, "%s%s/%s", out.len ? ", " : "", c->valuestring, sp->valuestring);
    }
    if (n > SPLITS_MAX_LISTED) buf_printf(&out, ", ... (%zu in all)", n);
    cJSON_Delete(root);
    return n ? buf_steal(&out) : (buf_free(&out), NULL);
}

void pull_explain_not_found(const pull_opts *o, pull_state *sp)
{
    size_t elen = strlen(o->endpoint);
    while (elen > 0 && o->endpoint[elen - 1] == '/') elen--;
    buf url = {0}, body = {0};
    buf_printf(&url, "%.*s/splits?dataset=", (int)elen, o->endpoint);
    pull_url_escape(&url, sp->out->dataset);
    long status = http_get(url.data, o->token, &body);
    char *list = status == 200 ? list_from_reply(&body) : NULL;
    if (list) {
        buf msg = {0};
        buf_printf(&msg, "%s; the API lists for %s (config/split): %s", sp->out->error, sp->out->dataset, list);
        free(sp->out->error);
        sp->out->error = buf_steal(&msg);
    }
    free(list);
    buf_free(&url);
    buf_free(&body);
}
