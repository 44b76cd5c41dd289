/* answer_scan.h — a fast reader for the common answer of /v1/completions generations:
 *
 *   {"id":...,"choices":[{"index":0,"text":"...","finish_reason":"stop",...},...],
 *    "usage":{"prompt_tokens":P,"completion_tokens":C,...},...}
 *
 * It validates the whole body as JSON while it walks it once, keeps only the fields the
 * backend reads (per choice: whether it is an object, index, text, whether finish_reason is
 * "length"; the usage counts), and allocates twice instead of once per JSON value as cJSON
 * does. Anything it does not handle exactly as cJSON would — a \u escape, a raw control
 * character in a string, a number outside JSON's grammar, nesting deeper than
 * ANSWER_SCAN_DEPTH, a byte-order mark, trailing bytes, no "choices" array whose first element
 * is an object — makes it give up, and the caller parses the body with cJSON instead
 * (openai_json.c), so the results never depend on which reader ran. */
#ifndef EVALLUA_HTTP_ANSWER_SCAN_H
#define EVALLUA_HTTP_ANSWER_SCAN_H

#include <stddef.h>

#include "util/buf.h"

#define ANSWER_SCAN_DEPTH 32

typedef struct scan_choice {
    int is_object;
    int has_index;        /* "index" is a number ... */
    double index;         /* ... this one */
    int has_text;         /* "text" is a string ... */
    size_t text_off, text_len; /* ... these bytes of scan_answer.strings (decoded) */
    int finish_length;    /* "finish_reason" is the string "length" */
} scan_choice;

typedef struct scan_answer {
    scan_choice *choices; /* in the order of the array */
    size_t n_choices, cap;
    buf strings;          /* decoded texts */
    int has_pt, has_ct;   /* usage.prompt_tokens / completion_tokens are numbers ... */
    double pt, ct;        /* ... these */
} scan_answer;

/* Read body (len bytes) into a; 1 when it was read completely, 0 when the caller must use the
   general parser. a is zeroed first; free it with answer_scan_free either way. */
int answer_scan(scan_answer *a, const char *body, size_t len);
/* Release what answer_scan allocated. */
void answer_scan_free(scan_answer *a);

#endif
