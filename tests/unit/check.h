/* check.h — the smallest test harness that does the job.
 *
 *   CHECK(cond)              records a failure with file:line and the expression
 *   CHECK_STR(a, b)          string equality (NULL-safe), prints both on failure
 *   CHECK_NEAR(a, b, tol)    |a-b| <= tol
 *   return check_summary();  prints "N passed, N failed" and returns the exit status
 */
#ifndef EVALLUA_TEST_CHECK_H
#define EVALLUA_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed_, check_failed_;

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) check_passed_++;                                                   \
        else {                                                                       \
            check_failed_++;                                                         \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
        }                                                                            \
    } while (0)

#define CHECK_STR(a, b)                                                              \
    do {                                                                             \
        const char *ca_ = (a), *cb_ = (b);                                           \
        if (ca_ && cb_ && strcmp(ca_, cb_) == 0) check_passed_++;                    \
        else {                                                                       \
            check_failed_++;                                                         \
            fprintf(stderr, "%s:%d: CHECK_STR failed: %s\n  got:      \"%s\"\n"     \
                    "  expected: \"%s\"\n", __FILE__, __LINE__, #a,                  \
                    ca_ ? ca_ : "(null)", cb_ ? cb_ : "(null)");                     \
        }                                                                            \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                        \
    do {                                                                             \
        double na_ = (a), nb_ = (b);                                                 \
        if (fabs(na_ - nb_) <= (tol)) check_passed_++;                               \
        else {                                                                       \
            check_failed_++;                                                         \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.10g, expected %.10g\n", \
                    __FILE__, __LINE__, #a, na_, nb_);                               \
        }                                                                            \
    } while (0)

static inline int check_summary(void)
{
    printf("%d passed, %d failed\n", check_passed_, check_failed_);
    return check_failed_ ? 1 : 0;
}

#endif
