/* transport.h — the HTTP client under the OpenAI backend (and the data pull): a pool of
 * reusable transfer slots driven by one epoll set, so the cost of an event is the cost of its
 * own transfer, whatever the number in flight. Two implementations sit behind it, chosen per
 * transfer by the transport's kind:
 *
 *   plain (transport_plain.c)  HTTP/1.1 over non-blocking sockets, for http:// URLs: a
 *       keep-alive pool per host:port, one gather write per request, an incremental parser.
 *       About a third of libcurl's CPU per request (docs/backends.md "Transport").
 *   curl (this file)           libcurl multi handles driven by curl_multi_socket_action (curl's
 *       multi_perform would visit every transfer on every wake-up): https://, proxies, and
 *       whatever plain does not carry.
 *   TRANSPORT_AUTO picks plain for an http:// URL when no proxy variable (http_proxy,
 *       HTTPS_PROXY, ALL_PROXY, ... any case) is set, curl otherwise; TRANSPORT_PLAIN and
 *       TRANSPORT_CURL force one (plain refuses https:// URLs with a message saying so).
 * Either way connections are kept alive and reused across transfers and run() calls, and a
 * transfer ends with a CURLcode (plain reports its failures with the codes curl would use:
 * see transport_plain.h), so callers classify results the same way whatever carried them.
 *
 * The engine takes a free slot, writes the request body into slot->body, starts it, waits,
 * and collects finished slots with their CURLcode; it never sees a socket. Every CURLcode and
 * CURLMcode is checked; the error buffer of each slot keeps the message (curl's, or plain's
 * naming host, port and what happened). Not thread-safe: one run loop owns it. */
#ifndef EVALLUA_HTTP_TRANSPORT_H
#define EVALLUA_HTTP_TRANSPORT_H

#include <curl/curl.h>
#include <stddef.h>

#include "util/buf.h"

#define TRANSPORT_MAX_RESPONSE ((size_t)256 << 20) /* bytes of response body accepted */

/* Which implementation carries the transfers (see above). */
typedef enum transport_kind { TRANSPORT_AUTO = 0, TRANSPORT_PLAIN, TRANSPORT_CURL } transport_kind;

/* One transfer slot. */
typedef struct xfer {
    CURL *easy;         /* the slot's libcurl handle: NULL until a transfer of it used curl */
    buf body;           /* request body: the engine writes it before xfer_start */
    buf resp;           /* response body */
    buf url;            /* the URL of the current transfer (see transport_url) */
    double retry_after; /* Retry-After seconds of the response, -1 when none */
    int too_big;        /* the response passed TRANSPORT_MAX_RESPONSE */
    int busy;           /* started and not yet released */
    void *owner;        /* the engine's job */
    double started;     /* monotonic seconds when the transfer started */
    transport_kind via; /* TRANSPORT_PLAIN or TRANSPORT_CURL once started; TRANSPORT_AUTO before */
    long status;        /* HTTP status of a plain transfer (transport_status reads curl's) */
    char errbuf[CURL_ERROR_SIZE];
} xfer;

typedef struct transport_opts {
    int slots;               /* transfers in flight at most */
    double timeout_s;        /* total seconds per transfer */
    double connect_timeout_s;
    const char *user_agent;
    const char *api_key;     /* NULL: no Authorization header */
    transport_kind kind;     /* TRANSPORT_AUTO (0) unless a caller forces one */
} transport_opts;

typedef struct transport transport;

/* Create the epoll set, the slots and what the kind needs (libcurl's multi handles are set up
   at once for TRANSPORT_CURL, at the first transfer that needs them for TRANSPORT_AUTO);
   NULL with err filled. */
transport *transport_new(const transport_opts *o, char *err, size_t errlen);
/* The kind named "auto", "plain" or "curl" (NULL: auto) into *kind; 0, or -1 for another name. */
int transport_kind_parse(const char *name, transport_kind *kind);
/* Whether t can carry url (TRANSPORT_PLAIN takes http:// URLs only); 0, or -1 with err
   filled. Callers check their URLs up front with it so the message comes before any work. */
int transport_check_url(const transport *t, const char *url, char *err, size_t errlen);
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
/* The URL x was started with (a plain transfer has no easy handle to ask; no redirect is
   ever followed, so it is also curl's effective URL). */
const char *transport_url(const xfer *x);
/* HTTP status of x's response (0 when none). */
long transport_status(const xfer *x);
/* Slots busy now. */
int transport_busy(const transport *t);
/* The slot array and its length (to visit the busy ones, e.g. on abort). */
xfer *transport_slots(transport *t, int *n);

#endif
