/* buf.h — a growable byte buffer, and error-message helpers shared by every module.
 *
 * Owner rules: a buf owns its bytes; buf_free releases them; buf_steal hands them to
 * the caller (free() them). Every append keeps the contents NUL-terminated. Allocation
 * failure aborts via buf_oom(): there is no sensible recovery from OOM mid-run. */
#ifndef EVALLUA_UTIL_BUF_H
#define EVALLUA_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct buf {
    char *data;   /* NUL-terminated; NULL until the first append */
    size_t len;   /* bytes used, not counting the NUL */
    size_t cap;   /* bytes allocated */
} buf;

/* Append n bytes of s. */
void buf_append(buf *b, const char *s, size_t n);
/* Append a NUL-terminated string. */
void buf_puts(buf *b, const char *s);
/* Append one byte. */
void buf_putc(buf *b, char c);
/* Append printf-formatted text. */
void buf_printf(buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Append a JSON string literal (quotes and escapes included) for n bytes of s. */
void buf_json_string(buf *b, const char *s, size_t n);
/* Reset length to 0, keeping the allocation. */
void buf_clear(buf *b);
/* Release the memory; the buf is empty and reusable afterwards. */
void buf_free(buf *b);
/* Return the malloc'd string (never NULL; "" when empty) and leave the buf empty. */
char *buf_steal(buf *b);
/* Contents as a C string ("" when nothing has been appended). */
const char *buf_str(const buf *b);

/* malloc/realloc/strdup that abort with a message on failure. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);

/* Format into a fixed error buffer (err may be NULL); returns -1 for `return errf(...)`. */
int errf(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
