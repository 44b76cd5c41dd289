/* request.c — ownership helpers for requests and responses. */
#include "request.h"

#include <stdlib.h>
#include <string.h>

volatile sig_atomic_t backend_interrupted = 0; /* see request.h */

void request_free(eval_request *r)
{
    free(r->context);
    free(r->continuation);
    free(r->messages_json);
    for (size_t i = 0; i < r->gen.n_until; i++) free(r->gen.until[i]);
    free(r->gen.until);
    memset(r, 0, sizeof *r);
}

void response_free(eval_response *r)
{
    free(r->text);
    free(r->reasoning);
    free(r->error);
    memset(r, 0, sizeof *r);
}

const char *req_kind_name(req_kind k)
{
    switch (k) {
    case REQ_LOGLIKELIHOOD: return "loglikelihood";
    case REQ_LOGLIKELIHOOD_ROLLING: return "loglikelihood_rolling";
    case REQ_GENERATE: return "generate_until";
    }
    return "unknown";
}
