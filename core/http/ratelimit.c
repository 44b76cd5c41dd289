/* ratelimit.c — token buckets for rpm and tpm (see ratelimit.h). */
#include "ratelimit.h"

static void refill(token_bucket *b, double now)
{
    if (now > b->last) {
        b->level += (now - b->last) * b->rate;
        if (b->level > b->capacity) b->level = b->capacity;
    }
    b->last = now > b->last ? now : b->last;
}

void bucket_init(token_bucket *b, double per_minute, double now)
{
    b->rate = per_minute > 0 ? per_minute / 60.0 : 0;
    b->capacity = b->rate > 1 ? b->rate : 1;
    b->level = b->capacity;
    b->last = now;
}

double bucket_wait(token_bucket *b, double cost, double now)
{
    if (b->rate <= 0) return 0;
    refill(b, now);
    double need = cost < b->capacity ? cost : b->capacity;
    if (b->level >= need) return 0;
    return (need - b->level) / b->rate;
}

void bucket_take(token_bucket *b, double cost, double now)
{
    if (b->rate <= 0) return;
    refill(b, now);
    b->level -= cost;
}

void bucket_adjust(token_bucket *b, double amount, double now)
{
    if (b->rate <= 0) return;
    refill(b, now);
    b->level += amount;
    if (b->level > b->capacity) b->level = b->capacity;
}

void limiter_init(rate_limiter *l, double rpm, double tpm, double now)
{
    bucket_init(&l->requests, rpm, now);
    bucket_init(&l->tokens, tpm, now);
}

double limiter_wait(rate_limiter *l, double est_tokens, double now)
{
    double a = bucket_wait(&l->requests, 1, now);
    double b = bucket_wait(&l->tokens, est_tokens, now);
    return a > b ? a : b;
}

void limiter_take(rate_limiter *l, double est_tokens, double now)
{
    bucket_take(&l->requests, 1, now);
    bucket_take(&l->tokens, est_tokens, now);
}

void limiter_correct(rate_limiter *l, double est_tokens, double actual_tokens, double now)
{
    if (actual_tokens > 0) bucket_adjust(&l->tokens, est_tokens - actual_tokens, now);
}

double limiter_estimate(double prompt_bytes, double max_tokens)
{
    return prompt_bytes / 4.0 + max_tokens;
}
