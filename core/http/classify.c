/* classify.c — what an attempt of the OpenAI backend came to: success, a retryable or final
 * failure, a batch to split, or a reason to stop the run (see openai.h for the rules). */
#include <stdlib.h>
#include <string.h>

#include "openai_internal.h"

/* curl errors that another attempt would repeat exactly. */
static int curl_error_is_final(const xfer *x, CURLcode cc)
{
    return x->too_big || cc == CURLE_URL_MALFORMAT || cc == CURLE_UNSUPPORTED_PROTOCOL ||
           cc == CURLE_NOT_BUILT_IN || cc == CURLE_PEER_FAILED_VERIFICATION ||
           cc == CURLE_SSL_CACERT_BADFILE;
}

/* curl errors that say the endpoint is not answering (they count against its health). */
static int curl_error_is_connection(CURLcode cc)
{
    return cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
           cc == CURLE_OPERATION_TIMEDOUT || cc == CURLE_GOT_NOTHING || cc == CURLE_RECV_ERROR ||
           cc == CURLE_SEND_ERROR || cc == CURLE_SSL_CONNECT_ERROR;
}

static void classify_curl(const xfer *x, CURLcode cc, const char *url, attempt *a)
{
    const char *why = x->errbuf[0] ? x->errbuf : curl_easy_strerror(cc);
    a->kind = curl_error_is_final(x, cc) ? ATT_FAIL : ATT_RETRY;
    a->conn_error = curl_error_is_connection(cc);
    if (x->too_big)
        buf_printf(&a->msg, "response from %s is larger than %zu MiB", url, TRANSPORT_MAX_RESPONSE >> 20);
    else if (cc == CURLE_COULDNT_CONNECT || cc == CURLE_COULDNT_RESOLVE_HOST ||
             cc == CURLE_COULDNT_RESOLVE_PROXY || cc == CURLE_SSL_CONNECT_ERROR)
        buf_printf(&a->msg, "cannot reach %s: %s", url, why);
    else if (cc == CURLE_OPERATION_TIMEDOUT)
        buf_printf(&a->msg, "timeout waiting for %s: %s", url, why);
    else
        buf_printf(&a->msg, "transfer from %s failed: %s", url, why);
}

static void classify_auth(const oai_backend *b, long status, const char *url, attempt *a)
{
    a->kind = ATT_STOP;
    if (!b->api_key)
        buf_printf(&a->msg, "HTTP %ld from %s: the server requires an API key (%s)", status, url,
                   OAI_KEY_HINT);
    else if (status == 401)
        buf_printf(&a->msg, "HTTP 401 from %s: the API key was rejected (%s)", url, OAI_KEY_HINT);
    else
        buf_printf(&a->msg, "HTTP 403 from %s: the API key was refused access (%s)", url, OAI_KEY_HINT);
}

static int is_echo(const eval_request *r)
{
    return r->kind == REQ_LOGLIKELIHOOD || r->kind == REQ_LOGLIKELIHOOD_ROLLING;
}

/* A 4xx other than 401/403/429: a prompt over the context limit fails its request; a server
   that refuses the echo + logprobs request stops the run; a batch is split to find out which
   prompt the server minds; anything else fails the request. */
static void classify_client_error(long status, const char *url, const char *server,
                                  const eval_request *first, size_t n, attempt *a)
{
    if (is_echo(first) && oai_is_logprobs_error(server) && !oai_is_context_error(server)) {
        a->kind = ATT_STOP;
        buf_printf(&a->msg, "HTTP %ld from %s: the server does not accept the echo=true + logprobs "
                   "request that log-likelihood scoring needs (it answered: %s); use a server "
                   "that supports it (vLLM, SGLang) or run multiple-choice tasks with --mc-mode "
                   "generative", status, url, server);
        return;
    }
    if (n > 1 && (status == 400 || status == 413 || status == 422)) {
        a->kind = ATT_SPLIT;
        return;
    }
    a->kind = ATT_FAIL;
    if (oai_is_context_error(server))
        buf_printf(&a->msg, "prompt longer than the server's context limit: HTTP %ld from %s", status, url);
    else
        buf_printf(&a->msg, "HTTP %ld from %s", status, url);
    if (*server) buf_printf(&a->tail, ": %s", server);
}

static void classify_status(const xfer *x, long status, const char *url, const eval_request *first,
                            size_t n, attempt *a)
{
    char *m = oai_server_message(x->resp.data, x->resp.len, OAI_SERVER_MSG_MAX);
    if (status >= 400 && status < 500 && status != 429) {
        classify_client_error(status, url, m, first, n, a);
    } else {
        buf_printf(&a->msg, "HTTP %ld from %s", status, url);
        if (*m) buf_printf(&a->tail, ": %s", m);
        a->kind = status == 429 || status >= 500 ? ATT_RETRY : ATT_FAIL;
        if ((status == 429 || status == 503) && x->retry_after >= 0)
            a->min_delay = x->retry_after < OAI_RETRY_AFTER_CAP_S ? x->retry_after : OAI_RETRY_AFTER_CAP_S;
    }
    free(m);
}

void oai_classify(const oai_backend *b, const xfer *x, CURLcode cc, const char *url,
                  const eval_request *reqs, const size_t *idx, size_t n, eval_response *resps,
                  oai_verdict *each, oai_problem *why, attempt *a)
{
    if (cc != CURLE_OK) {
        classify_curl(x, cc, url, a);
        return;
    }
    long status = a->status = transport_status(x);
    if (status == 401 || status == 403) {
        classify_auth(b, status, url, a);
    } else if (status < 200 || status >= 300) {
        classify_status(x, status, url, &reqs[idx[0]], n, a);
    } else {
        oai_verdict v = oai_parse_batch(reqs, idx, n, b->chat, buf_str(&x->resp), x->resp.len, resps,
                                        each, why);
        if (v == OAI_OK) {
            a->kind = ATT_OK;
            return;
        }
        a->kind = v == OAI_RETRY ? ATT_RETRY : ATT_FAIL;
        buf_printf(&a->msg, "%s from %s", why[0].head, url);
        if (why[0].detail[0]) buf_printf(&a->tail, ": %s", why[0].detail);
    }
}
