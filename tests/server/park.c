/* park.c — replies that wait (--delay-ms, stalls) without holding a thread: the connection
 * is suspended and a timer thread resumes it when its time comes, so a thousand delayed
 * requests cost a heap entry each, not a thread each. */
#include "fake_openai.h"

#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "util/buf.h"

typedef struct parked {
    double due_ms;
    void *conn;
    void (*wake)(void *conn);
} parked;

static struct {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    pthread_t thread;
    parked *heap; /* min-heap on due_ms */
    size_t len, cap;
    int running, closed;
} park = {.lock = PTHREAD_MUTEX_INITIALIZER, .cond = PTHREAD_COND_INITIALIZER};

double fo_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec * 1e-6;
}

static void heap_push(parked p)
{
    if (park.len == park.cap) {
        park.cap = park.cap ? 2 * park.cap : 256;
        park.heap = xrealloc(park.heap, park.cap * sizeof *park.heap);
    }
    size_t i = park.len++;
    while (i > 0 && park.heap[(i - 1) / 2].due_ms > p.due_ms) {
        park.heap[i] = park.heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    park.heap[i] = p;
}

static parked heap_pop(void)
{
    parked top = park.heap[0], last = park.heap[--park.len];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= park.len) break;
        if (c + 1 < park.len && park.heap[c + 1].due_ms < park.heap[c].due_ms) c++;
        if (park.heap[c].due_ms >= last.due_ms) break;
        park.heap[i] = park.heap[c];
        i = c;
    }
    if (park.len) park.heap[i] = last;
    return top;
}

/* Wait on the condition until the monotonic time due_ms. */
static void wait_until(double due_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts); /* the condition variable's clock */
    double left = due_ms - fo_now_ms();
    if (left < 0) left = 0;
    long long ns = (long long)ts.tv_nsec + (long long)(left * 1e6);
    ts.tv_sec += (time_t)(ns / 1000000000LL);
    ts.tv_nsec = (long)(ns % 1000000000LL);
    pthread_cond_timedwait(&park.cond, &park.lock, &ts);
}

static void *timer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&park.lock);
    while (!park.closed) {
        if (park.len == 0) pthread_cond_wait(&park.cond, &park.lock);
        else if (park.heap[0].due_ms <= fo_now_ms()) {
            parked p = heap_pop();
            p.wake(p.conn);
        } else {
            wait_until(park.heap[0].due_ms);
        }
    }
    pthread_mutex_unlock(&park.lock);
    return NULL;
}

int fo_park_start(void)
{
    park.closed = 0;
    if (pthread_create(&park.thread, NULL, timer_main, NULL) != 0) return -1;
    park.running = 1;
    return 0;
}

int fo_park(void *conn, double due_ms, void (*suspend)(void *conn), void (*wake)(void *conn))
{
    pthread_mutex_lock(&park.lock);
    int ok = park.running && !park.closed;
    if (ok) {
        suspend(conn);
        /* the timer thread needs waking only when its next due time moves earlier: with one
           --delay-ms for every request it never does, which saves a futex wake-up and a
           context switch per request */
        int sooner = park.len == 0 || due_ms < park.heap[0].due_ms;
        heap_push((parked){due_ms, conn, wake});
        if (sooner) pthread_cond_signal(&park.cond);
    }
    pthread_mutex_unlock(&park.lock);
    return ok ? 0 : -1;
}

void fo_park_stop(void)
{
    if (!park.running) return;
    pthread_mutex_lock(&park.lock);
    park.closed = 1;
    while (park.len) {
        parked p = heap_pop();
        p.wake(p.conn);
    }
    pthread_cond_signal(&park.cond);
    pthread_mutex_unlock(&park.lock);
    pthread_join(park.thread, NULL);
    park.running = 0;
    free(park.heap);
    park.heap = NULL;
    park.cap = 0;
}
