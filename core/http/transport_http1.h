/* transport_http1.h — the HTTP/1.x response parser of the plain transport (transport_plain.c).
 *
 * It is fed a connection's bytes as they arrive, split anywhere (one byte at a time works),
 * and reads one response: the status line, the headers (names case-insensitive), and the body
 * delimited by Content-Length, by chunked transfer coding (chunk extensions and trailers are
 * read and ignored) or by the end of the connection. Interim 1xx responses are read and
 * skipped. Only what the client needs is kept: the status, Retry-After, whether the
 * connection may carry another request, and the body, appended to the caller's buf.
 * A line longer than H1_LINE_MAX or headers longer than H1_HEAD_MAX in all are refused
 * (curl's limit is 100 KiB too). Not thread-safe; no allocation but the carried line and the
 * body. */
#ifndef EVALLUA_HTTP_TRANSPORT_HTTP1_H
#define EVALLUA_HTTP_TRANSPORT_HTTP1_H

#include <stddef.h>

#include "util/buf.h"

#define H1_LINE_MAX ((size_t)100 << 10) /* bytes of one status, header or chunk-size line */
#define H1_HEAD_MAX ((size_t)300 << 10) /* bytes of one response's headers, interim included */

/* Where the parser is in the response. */
typedef enum h1_state {
    H1_STATUS,      /* waiting for the status line */
    H1_HEADERS,     /* reading header lines */
    H1_BODY_LENGTH, /* a Content-Length body, `left` bytes to go */
    H1_BODY_CLOSE,  /* a body that ends when the server closes the connection */
    H1_CHUNK_SIZE,  /* a chunk-size line */
    H1_CHUNK_DATA,  /* chunk data, `left` bytes to go */
    H1_CHUNK_END,   /* the CRLF after chunk data */
    H1_TRAILERS,    /* trailer lines after the last chunk */
    H1_DONE         /* the response is complete */
} h1_state;

/* What h1_feed came to. */
typedef enum h1_result {
    H1_MORE,     /* every byte was used; the response needs more */
    H1_COMPLETE, /* the response is complete (*used bytes were taken) */
    H1_BAD,      /* not a valid HTTP/1.x response: `why` says what is wrong */
    H1_TOO_BIG   /* the body would pass max_body */
} h1_result;

typedef struct h1_response {
    h1_state state;
    int minor;                 /* HTTP/1.minor of the status line */
    long status;               /* of the last status line read (an interim one too); 0: none */
    int close;                 /* Connection: close */
    int keep_alive;            /* Connection: keep-alive (HTTP/1.0) */
    int chunked;               /* Transfer-Encoding ends with chunked */
    int have_length;           /* a Content-Length was given ... */
    unsigned long long length; /* ... this one */
    unsigned long long left;   /* bytes left of the body or the current chunk */
    double retry_after;        /* Retry-After in seconds, -1 when none */
    unsigned long long bytes;  /* bytes of the response taken so far (interim ones included) */
    size_t head_bytes;         /* header bytes taken so far */
    buf line;                  /* the start of a line that a read split */
    const char *why;           /* H1_BAD: what was wrong (a static string) */
} h1_response;

/* Make r ready for the next response on the connection (keeps r->line's memory). */
void h1_begin(h1_response *r);
/* Release r's memory. */
void h1_free(h1_response *r);
/* Take n bytes: body bytes are appended to body (at most max_body bytes in all). On
   H1_COMPLETE *used says how many of the n bytes belonged to the response (more would be a
   protocol error: the client never pipelines). */
h1_result h1_feed(h1_response *r, const char *data, size_t n, size_t *used, buf *body,
                  size_t max_body);
/* The server closed the connection: 1 when that completes the response (a body delimited by
   the close), else 0 (the response was cut short). */
int h1_eof(h1_response *r);
/* 1 when a complete response lets the connection carry another request. */
int h1_reusable(const h1_response *r);

#endif
