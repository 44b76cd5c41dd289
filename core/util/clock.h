/* clock.h — seconds on the monotonic clock, for durations, deadlines and rates (never for
 * dates). One definition for every module that times something. */
#ifndef EVALLUA_UTIL_CLOCK_H
#define EVALLUA_UTIL_CLOCK_H

#include <time.h>

static inline double mono_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

#endif
