/* test_server_park.c — the test server's heap of parked replies (tests/server/park.c): timers
 * come out in due order, never before they are due, and one taken out of the middle (a parked
 * connection closed by its client) never comes out and leaves the heap consistent. */
#include <stdlib.h>

#include "check.h"
#include "fake_openai.h"

enum { N_TIMERS = 2000 };

/* Every queued timer's slot names its own place, and no child is due before its parent. */
static int heap_ok(const fo_timer_heap *h)
{
    for (size_t i = 0; i < h->len; i++) {
        if (h->items[i]->slot != i + 1) return 0;
        if (i > 0 && h->items[(i - 1) / 2]->due_ms > h->items[i]->due_ms) return 0;
    }
    return 1;
}

/* Due times arrive in order (one --delay-ms for all), then out of order (stalls mixed in). */
static void test_order(int shuffled)
{
    static fo_timer t[N_TIMERS];
    fo_timer_heap h = {0};
    double earliest = 1e9;
    srand(7);
    for (int i = 0; i < N_TIMERS; i++) {
        double due = shuffled ? (double)(rand() % 500) : 100.0 + i * 0.25;
        if (due < earliest) earliest = due;
        fo_timer_add(&h, &t[i], due);
    }
    CHECK(h.len == N_TIMERS && heap_ok(&h));
    CHECK(fo_timer_next(&h) == earliest);
    CHECK(fo_timer_pop_due(&h, fo_timer_next(&h) - 0.001) == NULL); /* nothing early */
    double last = -1;
    int popped = 0, ordered = 1;
    fo_timer *p;
    while ((p = fo_timer_pop_due(&h, 1e9)) != NULL) {
        ordered &= p->due_ms >= last && p->slot == 0;
        last = p->due_ms;
        popped++;
    }
    CHECK(ordered && popped == N_TIMERS && h.len == 0 && fo_timer_next(&h) < 0);
    fo_timer_heap_free(&h);
}

/* Remove every third timer (first, last and middle ones among them): the rest come out in
   order, the removed never; removing one twice or one never queued does nothing. */
static void test_remove(void)
{
    static fo_timer t[N_TIMERS];
    fo_timer_heap h = {0};
    fo_timer never = {0};
    srand(11);
    for (int i = 0; i < N_TIMERS; i++) fo_timer_add(&h, &t[i], (double)(rand() % 1000));
    int removed = 0;
    for (int i = 0; i < N_TIMERS; i += 3) {
        fo_timer_remove(&h, &t[i]);
        fo_timer_remove(&h, &t[i]);
        removed++;
    }
    fo_timer_remove(&h, &never);
    CHECK(h.len == (size_t)(N_TIMERS - removed) && heap_ok(&h));
    double last = -1;
    int popped = 0, ordered = 1, resurrected = 0;
    fo_timer *p;
    while ((p = fo_timer_pop_due(&h, 1e9)) != NULL) {
        ordered &= p->due_ms >= last;
        resurrected += (p - t) % 3 == 0;
        last = p->due_ms;
        popped++;
    }
    CHECK(ordered && resurrected == 0 && popped == N_TIMERS - removed);
    fo_timer_heap_free(&h);
}

/* Pops stop at `now`: only what is due comes out, the rest stays queued. */
static void test_due_only(void)
{
    fo_timer a, b, c;
    fo_timer_heap h = {0};
    fo_timer_add(&h, &a, 30.0);
    fo_timer_add(&h, &b, 10.0);
    fo_timer_add(&h, &c, 20.0);
    CHECK(fo_timer_pop_due(&h, 9.0) == NULL);
    CHECK(fo_timer_pop_due(&h, 20.0) == &b);
    CHECK(fo_timer_pop_due(&h, 20.0) == &c);
    CHECK(fo_timer_pop_due(&h, 20.0) == NULL && fo_timer_next(&h) == 30.0);
    fo_timer_remove(&h, &a);
    CHECK(h.len == 0 && fo_timer_next(&h) < 0);
    fo_timer_heap_free(&h);
}

int main(void)
{
    test_order(0);
    test_order(1);
    test_remove();
    test_due_only();
    return check_summary();
}
