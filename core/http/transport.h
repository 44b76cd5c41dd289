/* transport.h — the libcurl side of the OpenAI backend: a pool of reusable transfer slots on
 * one multi handle, driven by curl_multi_socket_action and epoll, so the cost of an event is
 * the cost of its own transfer, whatever the number in flight (curl's multi_perform would
 * visit every transfer on every wake-up). Connections are kept alive and reused across
 * transfers and run() calls by the multi handle's connection cache.
 *
 * The engine takes a free slot, writes the request body into slot->body, starts it, waits,
 * and collects finished slots with their CURLcode; it never sees a socket. Every CURLcode and
 * CURLMcode is checked; the error buffer of each slot keeps curl's message. Not thread-safe:
 * one run loop owns it. */
#ifndef EVALLUA_HTTP_TRANSPORT_H
#define EVALLUA_HTTP_TRANSPORT_H

#include <curl/curl.h>
#include <stddef.h>

#include "util/buf.h"

#define TRANSPORT_MAX_RESPONSE ((size_t)256 << 20) /* bytes of response body accepted */

/* One transfer slot. */
typedef struct xfer {
    CURL *easy;
    buf body;           /* request body: the engine writes it before xfer_start */
    buf resp;           /* response body */
    double retry_after; /* Retry-After seconds of the response, -1 when none */
    int too_big;        /* the response passed TRANSPORT_MAX_RESPONSE */
    int busy;           /* started and not yet released */
    void *owner;        /* the engine's job */
    double started;     /* monotonic seconds when the transfer started */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

typedef struct transport_opts {
    int slots;               /* transfers in flight at most */
    double timeout_s;        /* total seconds per transfer */
    double connect_timeout_s;
    const char *user_agent;
    const char *api_key;     /* NULL: no Authorization header */
} transport_opts;

typedef struct transport transport;

/* Create the multi handle, the epoll set and the slots; NULL with err filled. */
transport *transport_new(const transport_opts *o, char *err, size_t errlen);
/* Clean everything up (abandoning transfers in flight); NULL is a no-op. */
void transport_free(transport *t);
/* A free slot (its body cleared), or NULL when all are busy. */
xfer *transport_acquire(transport *t);
/* Start x (body already written) as a POST to url; 0, or -1 with err filled (x is then free
   again). */
int transport_start(transport *t, xfer *x, const char *url, char *err, size_t errlen);
/* Start x as a GET of url (x->body is ignored); 0, or -1 with err filled (x is then free
   again). A later transport_start makes the slot POST again. */
int transport_start_get(transport *t, xfer *x, const char *url, char *err, size_t errlen);
/* Wait at most max_ms for network activity and let curl act on it — on a chunk of the events
   at a time, so that the engine refills freed slots between chunks; while events of the last
   wait are left, it does not wait. 0, or -1 with err filled when the multi interface failed. */
int transport_wait(transport *t, int max_ms, char *err, size_t errlen);
/* A finished transfer (its result in *result), or NULL when none is waiting. The slot stays
   busy until transport_release. */
xfer *transport_done(transport *t, CURLcode *result);
/* Free slot x (removing it from the multi handle if it is still there). */
void transport_release(transport *t, xfer *x);
/* HTTP status of x's response (0 when none). */
long transport_status(const xfer *x);
/* Slots busy now. */
int transport_busy(const transport *t);
/* The slot array and its length (to visit the busy ones, e.g. on abort). */
xfer *transport_slots(transport *t, int *n);

#endif
