/* transport_plain.h — the plain HTTP/1.1 side of the transport (transport.h): http:// URLs
 * over non-blocking sockets, without libcurl. transport.c owns the slots and the epoll set and
 * hands this part the transfers it chooses plain for, and the epoll events tagged
 * PLAIN_EVENT_TAG; everything else here is private to transport_plain.c.
 *
 * What it does per transfer: the endpoint (host:port) is looked up, resolved once with
 * getaddrinfo and cached; an idle keep-alive connection of that endpoint is reused, else a
 * new one is connected (non-blocking, each address in turn, connect timeout); the request
 * line and headers go out with the body in one sendmsg (a gather write: two iovecs), partial
 * writes continue on EPOLLOUT; the response is parsed as it arrives (transport_http1.h).
 * A reused connection that the server had closed (EOF or reset before any response byte)
 * is retried once on a fresh connection, as curl does. Results are curl's CURLcodes, so the
 * engine's classification and retries do not depend on the transport:
 *   refused / unreachable      CURLE_COULDNT_CONNECT      name lookup failed  CURLE_COULDNT_RESOLVE_HOST
 *   connect or total timeout   CURLE_OPERATION_TIMEDOUT   EOF before a byte   CURLE_GOT_NOTHING
 *   reset or read error        CURLE_RECV_ERROR           write error         CURLE_SEND_ERROR
 *   EOF inside the body        CURLE_PARTIAL_FILE         malformed response  CURLE_WEIRD_SERVER_REPLY
 *   body over TRANSPORT_MAX_RESPONSE  CURLE_WRITE_ERROR with x->too_big set
 * and x->errbuf names the host and port and what happened. Not thread-safe. */
#ifndef EVALLUA_HTTP_TRANSPORT_PLAIN_H
#define EVALLUA_HTTP_TRANSPORT_PLAIN_H

#include <stdint.h>

#include "transport.h"

/* epoll data of a plain connection: this bit set, the connection's generation in bits 32-62,
   its index in the low 32 bits (libcurl's events carry a shard index < 2^31 up there). */
#define PLAIN_EVENT_TAG ((uint64_t)1 << 63)

typedef struct plain_transport plain_transport;

/* The plain side for the n_slots slots at slots, registering its sockets in epfd. */
plain_transport *plain_new(int epfd, xfer *slots, int n_slots, const transport_opts *o);
/* Close every connection and free everything (transfers in flight are abandoned). */
void plain_free(plain_transport *p);
/* 1 when url is an http:// URL this side can carry, else 0 with err saying why. */
int plain_url_ok(const char *url, char *err, size_t errlen);
/* Start x (transport.c set x->started) as a POST of x->body, or a GET when get; 0, or -1 with
   err filled when url cannot be carried (nothing was started: TRANSPORT_AUTO hands it to
   libcurl then). Failures after that (lookup, connect) finish the transfer with its
   CURLcode. */
int plain_start(plain_transport *p, xfer *x, const char *url, int get, char *err, size_t errlen);
/* Act on one epoll event whose data has PLAIN_EVENT_TAG. */
void plain_event(plain_transport *p, uint64_t data, uint32_t events);
/* Finish the transfers and connects whose time is up at now (monotonic seconds). */
void plain_expire(plain_transport *p, double now);
/* When plain_expire next has something to do (monotonic seconds): -1 when nothing is timed,
   0 when a finished transfer is waiting for plain_done. */
double plain_next_due(const plain_transport *p);
/* A finished transfer (its result in *result), or NULL. */
xfer *plain_done(plain_transport *p, CURLcode *result);
/* x is released: a transfer still in flight is abandoned (its connection closed). */
void plain_release(plain_transport *p, xfer *x);

#endif
