/* park.c — replies that wait (--delay-ms, stalls) without holding a thread: each worker keeps
 * its parked connections in a min-heap of due times and sleeps in epoll only until the
 * earliest one (http.c), so a parked reply costs a heap entry — no timer syscall, no other
 * thread, no wake-up of its own. With one --delay-ms for every request the due times arrive
 * in order, so an insertion is O(1) and only the removal of the earliest is O(log n). */
#include "fake_openai.h"

#include <stdlib.h>
#include <time.h>

double fo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void place(fo_timer_heap *h, size_t i, fo_timer *t)
{
    h->items[i] = t;
    t->slot = i + 1;
}

/* Move the timer at i up while it is due before its parent. */
static void sift_up(fo_timer_heap *h, size_t i)
{
    fo_timer *t = h->items[i];
    while (i > 0 && h->items[(i - 1) / 2]->due_ms > t->due_ms) {
        place(h, i, h->items[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    place(h, i, t);
}

/* Move the timer at i down while a child is due before it. */
static void sift_down(fo_timer_heap *h, size_t i)
{
    fo_timer *t = h->items[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->len) break;
        if (c + 1 < h->len && h->items[c + 1]->due_ms < h->items[c]->due_ms) c++;
        if (h->items[c]->due_ms >= t->due_ms) break;
        place(h, i, h->items[c]);
        i = c;
    }
    place(h, i, t);
}

void fo_timer_add(fo_timer_heap *h, fo_timer *t, double due_ms)
{
    if (h->len == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 256;
        h->items = xrealloc(h->items, h->cap * sizeof *h->items);
    }
    t->due_ms = due_ms;
    h->items[h->len++] = t;
    sift_up(h, h->len - 1);
}

void fo_timer_remove(fo_timer_heap *h, fo_timer *t)
{
    if (!t->slot) return;
    size_t i = t->slot - 1;
    t->slot = 0;
    fo_timer *last = h->items[--h->len];
    if (i == h->len) return; /* t was the last one */
    place(h, i, last);
    sift_up(h, i);
    sift_down(h, last->slot - 1);
}

fo_timer *fo_timer_pop_due(fo_timer_heap *h, double now_ms)
{
    if (h->len == 0 || h->items[0]->due_ms > now_ms) return NULL;
    fo_timer *t = h->items[0];
    fo_timer_remove(h, t);
    return t;
}

double fo_timer_next(const fo_timer_heap *h)
{
    return h->len ? h->items[0]->due_ms : -1.0;
}

void fo_timer_heap_free(fo_timer_heap *h)
{
    free(h->items);
    h->items = NULL;
    h->len = h->cap = 0;
}
