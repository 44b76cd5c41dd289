/* ratelimit.h — client-side rate limits of the OpenAI backend: token buckets for requests
 * per minute (rpm) and tokens per minute (tpm).
 *
 * A bucket refills continuously at limit/60 per second up to a capacity of one second's worth
 * (at least 1), and starts full. A cost may be taken once the level reaches the cost or the
 * capacity, whichever is smaller (so a request bigger than the capacity is not blocked
 * forever); taking it may drive the level below zero, and later requests then wait for the
 * debt to be refilled. So over any stretch of time the client sends at most limit/60 per
 * second plus one second's burst.
 *
 * Tokens are estimated before a request is sent — prompt bytes / 4 plus max_tokens per
 * prompt — and corrected by the server's usage (prompt + completion tokens) when the answer
 * comes. Every function takes the time explicitly (seconds on any monotonic clock), so the
 * limiter is tested with a fake clock (tests/unit/test_ratelimit.c). Not thread-safe. */
#ifndef EVALLUA_HTTP_RATELIMIT_H
#define EVALLUA_HTTP_RATELIMIT_H

typedef struct token_bucket {
    double rate;     /* units per second; 0 = unlimited */
    double capacity; /* most units held */
    double level;    /* units available now (negative: debt) */
    double last;     /* time of the last refill */
} token_bucket;

typedef struct rate_limiter {
    token_bucket requests; /* rpm */
    token_bucket tokens;   /* tpm */
} rate_limiter;

/* A bucket for per_minute units a minute (<= 0: unlimited), full at time now. */
void bucket_init(token_bucket *b, double per_minute, double now);
/* Seconds from now until cost can be taken (0: at once; always 0 when unlimited). */
double bucket_wait(token_bucket *b, double cost, double now);
/* Take cost (the level may go negative). */
void bucket_take(token_bucket *b, double cost, double now);
/* Add amount back (negative: charge more), e.g. the difference between an estimate and the
   actual count; the level never exceeds the capacity. */
void bucket_adjust(token_bucket *b, double amount, double now);

/* A limiter with rpm requests and tpm tokens a minute (<= 0: no limit), at time now. */
void limiter_init(rate_limiter *l, double rpm, double tpm, double now);
/* Seconds from now until a request estimated at est_tokens may start (0: at once). */
double limiter_wait(rate_limiter *l, double est_tokens, double now);
/* Charge one request of est_tokens: call when it starts. */
void limiter_take(rate_limiter *l, double est_tokens, double now);
/* Correct the token charge of a finished request: actual_tokens from the server's usage. */
void limiter_correct(rate_limiter *l, double est_tokens, double actual_tokens, double now);
/* The estimate for a request: prompt_bytes / 4 + max_tokens (both summed over its prompts). */
double limiter_estimate(double prompt_bytes, double max_tokens);

#endif
