/* transport_http1.c — HTTP/1.x response parser (see transport_http1.h; RFC 9112). */
#include "transport_http1.h"

#include <string.h>
#include <strings.h>

#include "openai_json.h"

void h1_begin(h1_response *r)
{
    buf line = r->line;
    memset(r, 0, sizeof *r);
    buf_clear(&line);
    r->line = line;
    r->state = H1_STATUS;
    r->retry_after = -1;
}

void h1_free(h1_response *r)
{
    buf_free(&r->line);
}

static h1_result bad(h1_response *r, const char *why)
{
    r->why = why;
    return H1_BAD;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t';
}

/* The value of a header line (after the colon), trimmed; *n its length. */
static const char *header_value(const char *line, size_t len, size_t colon, size_t *n)
{
    size_t i = colon + 1, end = len;
    while (i < end && is_space(line[i])) i++;
    while (end > i && is_space(line[end - 1])) end--;
    *n = end - i;
    return line + i;
}

static int name_is(const char *line, size_t name_len, const char *name)
{
    return strlen(name) == name_len && strncasecmp(line, name, name_len) == 0;
}

/* "HTTP/1.x SSS[ reason]" */
static h1_result status_line(h1_response *r, const char *s, size_t n)
{
    if (n < 12 || memcmp(s, "HTTP/1.", 7) != 0 || s[7] < '0' || s[7] > '9' || s[8] != ' ')
        return bad(r, "the status line is not HTTP/1.x");
    long status = 0;
    for (int i = 9; i < 12; i++) {
        if (s[i] < '0' || s[i] > '9') return bad(r, "the status code is not three digits");
        status = status * 10 + (s[i] - '0');
    }
    if (n > 12 && s[12] != ' ') return bad(r, "the status code is not three digits");
    if (status < 100) return bad(r, "the status code is below 100");
    /* a new response: what an interim one said is forgotten (Retry-After too, as the curl
       transport's on_header does) */
    r->close = r->keep_alive = r->chunked = r->have_length = 0;
    r->length = r->left = 0;
    r->retry_after = -1;
    r->minor = s[7] - '0';
    r->status = status;
    r->state = H1_HEADERS;
    return H1_MORE;
}

static h1_result content_length(h1_response *r, const char *v, size_t n)
{
    unsigned long long x = 0;
    if (n == 0) return bad(r, "an empty Content-Length");
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9') return bad(r, "a Content-Length that is not a number");
        if (x > (~0ULL - 9) / 10) return bad(r, "a Content-Length too large");
        x = x * 10 + (unsigned)(v[i] - '0');
    }
    if (r->have_length && r->length != x) return bad(r, "two different Content-Length headers");
    r->have_length = 1;
    r->length = x;
    return H1_MORE;
}

/* Calls fn on each comma-separated token of v (trimmed). */
static void each_token(h1_response *r, const char *v, size_t n,
                       void (*fn)(h1_response *, const char *, size_t))
{
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        while (j < n && v[j] != ',') j++;
        size_t a = i, b = j;
        while (a < b && is_space(v[a])) a++;
        while (b > a && is_space(v[b - 1])) b--;
        if (b > a) fn(r, v + a, b - a);
        i = j + 1;
    }
}

static void connection_token(h1_response *r, const char *t, size_t n)
{
    if (n == 5 && strncasecmp(t, "close", 5) == 0) r->close = 1;
    if (n == 10 && strncasecmp(t, "keep-alive", 10) == 0) r->keep_alive = 1;
}

/* The coding applied last decides: chunked must be last when present (RFC 9112 6.1). */
static void coding_token(h1_response *r, const char *t, size_t n)
{
    r->chunked = n == 7 && strncasecmp(t, "chunked", 7) == 0;
}

static h1_result header_line(h1_response *r, const char *s, size_t n)
{
    if (is_space(s[0])) return H1_MORE; /* obsolete line folding: nothing we read continues */
    const char *colon = memchr(s, ':', n);
    if (!colon) return bad(r, "a header line without a colon");
    size_t name_len = (size_t)(colon - s), vn;
    const char *v = header_value(s, n, name_len, &vn);
    double secs;
    if (name_is(s, name_len, "content-length")) return content_length(r, v, vn);
    if (name_is(s, name_len, "transfer-encoding")) each_token(r, v, vn, coding_token);
    else if (name_is(s, name_len, "connection")) each_token(r, v, vn, connection_token);
    else if (name_is(s, name_len, "retry-after") && oai_retry_after(s, n, &secs)) r->retry_after = secs;
    return H1_MORE;
}

/* The empty line after the headers: what follows depends on the status and the framing. */
static h1_result end_of_headers(h1_response *r, size_t max_body)
{
    if (r->status < 200) { /* interim (100 Continue, 103 Early Hints): the real one follows */
        r->state = H1_STATUS;
        return H1_MORE;
    }
    if (r->status == 204 || r->status == 304) r->state = H1_DONE;
    else if (r->chunked) r->state = H1_CHUNK_SIZE;
    else if (r->have_length && r->length > max_body) return H1_TOO_BIG;
    else if (r->have_length) {
        r->left = r->length;
        r->state = r->length ? H1_BODY_LENGTH : H1_DONE;
    } else {
        r->state = H1_BODY_CLOSE; /* neither length nor chunks: the body runs to the close */
    }
    return H1_MORE;
}

/* "HEX[ ; extensions]" */
static h1_result chunk_size_line(h1_response *r, const char *s, size_t n)
{
    unsigned long long x = 0;
    size_t i = 0;
    for (; i < n; i++) {
        char c = s[i];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0) break;
        if (i >= 15) return bad(r, "a chunk size too large");
        x = x * 16 + (unsigned)d;
    }
    if (i == 0) return bad(r, "a chunk size that is not hexadecimal");
    while (i < n && is_space(s[i])) i++;
    if (i < n && s[i] != ';') return bad(r, "a chunk size followed by junk");
    r->left = x;
    r->state = x ? H1_CHUNK_DATA : H1_TRAILERS;
    return H1_MORE;
}

/* One complete line (without its LF; a CR before it is dropped here). */
static h1_result line(h1_response *r, const char *s, size_t n, size_t max_body)
{
    if (n && s[n - 1] == '\r') n--;
    switch (r->state) {
    case H1_STATUS:
        return n == 0 ? H1_MORE : status_line(r, s, n); /* tolerate a stray CRLF before it */
    case H1_HEADERS:
        return n == 0 ? end_of_headers(r, max_body) : header_line(r, s, n);
    case H1_CHUNK_SIZE:
        return chunk_size_line(r, s, n);
    case H1_CHUNK_END:
        if (n) return bad(r, "chunk data longer than its size");
        r->state = H1_CHUNK_SIZE;
        return H1_MORE;
    case H1_TRAILERS:
        if (n == 0) r->state = H1_DONE; /* trailer fields are read and ignored */
        return H1_MORE;
    default:
        return bad(r, "internal: a line in a body state");
    }
}

/* Take body bytes (a length body, chunk data, or a close-delimited body); returns the count. */
static size_t body_bytes(h1_response *r, const char *d, size_t n, buf *body, size_t max_body,
                         h1_result *res)
{
    size_t take = n;
    if (r->state != H1_BODY_CLOSE && r->left < take) take = (size_t)r->left;
    if (body->len + take > max_body) {
        *res = H1_TOO_BIG;
        return 0;
    }
    buf_append(body, d, take);
    if (r->state == H1_BODY_CLOSE) return take;
    r->left -= take;
    if (r->left == 0) r->state = r->state == H1_BODY_LENGTH ? H1_DONE : H1_CHUNK_END;
    return take;
}

/* Take bytes up to and including the next LF as a line (carried in r->line when split);
   returns the count taken. */
static size_t line_bytes(h1_response *r, const char *d, size_t n, size_t max_body, h1_result *res)
{
    const char *lf = memchr(d, '\n', n);
    size_t take = lf ? (size_t)(lf - d) + 1 : n;
    int in_head = r->state == H1_STATUS || r->state == H1_HEADERS;
    if (in_head && (r->head_bytes += take) > H1_HEAD_MAX) {
        *res = bad(r, "response headers larger than 300 KiB");
        return 0;
    }
    if (r->line.len + take > H1_LINE_MAX) {
        *res = bad(r, "a header or chunk-size line longer than 100 KiB");
        return 0;
    }
    if (!lf) {
        buf_append(&r->line, d, take);
        return take;
    }
    if (r->line.len == 0) {
        *res = line(r, d, take - 1, max_body); /* the common case: no copy */
        return take;
    }
    buf_append(&r->line, d, take - 1);
    *res = line(r, r->line.data, r->line.len, max_body);
    buf_clear(&r->line);
    return take;
}

h1_result h1_feed(h1_response *r, const char *data, size_t n, size_t *used, buf *body,
                  size_t max_body)
{
    size_t i = 0;
    h1_result res = H1_MORE;
    while (i < n && r->state != H1_DONE && res == H1_MORE) {
        int in_body = r->state == H1_BODY_LENGTH || r->state == H1_BODY_CLOSE ||
                      r->state == H1_CHUNK_DATA;
        i += in_body ? body_bytes(r, data + i, n - i, body, max_body, &res)
                     : line_bytes(r, data + i, n - i, max_body, &res);
    }
    r->bytes += i;
    *used = i;
    if (res != H1_MORE) return res;
    return r->state == H1_DONE ? H1_COMPLETE : H1_MORE;
}

int h1_eof(h1_response *r)
{
    if (r->state != H1_BODY_CLOSE) return r->state == H1_DONE;
    r->state = H1_DONE;
    r->close = 1;
    return 1;
}

int h1_reusable(const h1_response *r)
{
    return r->state == H1_DONE && !r->close && (r->minor >= 1 || r->keep_alive);
}
