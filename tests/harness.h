// tests/harness.h: a tiny TAP test harness (weston's one-program-per-module
// idea, NNG's PASS/FAIL checks). A test is `TEST(name) { ... }`; main() runs
// them with RUN(name) and returns harness_done(). A failed CHECK aborts the
// current test only. Exit codes: 0 pass, 1 fail, 77 skip, 99 harness error.
#ifndef FB_TESTS_HARNESS_H
#define FB_TESTS_HARNESS_H

#include <math.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fedbundle/util/err.h"

static int harness_run_count;
static int harness_fail_count;
static jmp_buf harness_jmp;
static int harness_current_failed;

#define TEST(name) static void name(void)

#define HARNESS_FAIL(...)                                                      \
	do {                                                                   \
		printf("# %s:%d: ", __FILE__, __LINE__);                       \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		harness_current_failed = 1;                                    \
		longjmp(harness_jmp, 1);                                       \
	} while (0)

#define CHECK(cond)                                                            \
	do {                                                                   \
		if (!(cond)) {                                                 \
			HARNESS_FAIL("check failed: %s", #cond);               \
		}                                                              \
	} while (0)

#define CHECK_OK(expr)                                                         \
	do {                                                                   \
		fb_err check_err_ = (expr);                                    \
		if (check_err_ != FB_OK) {                                     \
			HARNESS_FAIL("%s returned %s: %s", #expr,              \
					fb_strerror(check_err_),               \
					fb_last_error(check_err_));            \
		}                                                              \
	} while (0)

#define CHECK_ERR(expr, want)                                                  \
	do {                                                                   \
		fb_err check_err_ = (expr);                                    \
		if (check_err_ != (want)) {                                    \
			HARNESS_FAIL("%s returned %s, expected %s", #expr,     \
					fb_strerror(check_err_),               \
					fb_strerror(want));                    \
		}                                                              \
	} while (0)

#define CHECK_NEAR(a, b, tol)                                                  \
	do {                                                                   \
		double check_a_ = (double)(a), check_b_ = (double)(b);         \
		if (!(fabs(check_a_ - check_b_) <= (tol))) {                   \
			HARNESS_FAIL("%s = %.9g, expected %.9g (tol %g)", #a,  \
					check_a_, check_b_, (double)(tol));    \
		}                                                              \
	} while (0)

#define CHECK_STR_CONTAINS(hay, needle)                                        \
	do {                                                                   \
		if (strstr((hay), (needle)) == NULL) {                         \
			HARNESS_FAIL("\"%s\" does not contain \"%s\"", (hay),  \
					(needle));                             \
		}                                                              \
	} while (0)

#define RUN(name)                                                              \
	do {                                                                   \
		harness_run_count++;                                           \
		harness_current_failed = 0;                                    \
		fb_clear_error();                                              \
		if (setjmp(harness_jmp) == 0) {                                \
			name();                                                \
		}                                                              \
		if (harness_current_failed) {                                  \
			harness_fail_count++;                                  \
			printf("not ok %d - %s\n", harness_run_count, #name);  \
		} else {                                                       \
			printf("ok %d - %s\n", harness_run_count, #name);      \
		}                                                              \
		fflush(stdout);                                                \
	} while (0)

static inline int
harness_done(void)
{
	printf("1..%d\n", harness_run_count);
	return harness_fail_count == 0 ? 0 : 1;
}

// Skips the whole program with a reason (TAP "1..0 # SKIP").
#define HARNESS_SKIP_ALL(...)                                                  \
	do {                                                                   \
		printf("1..0 # SKIP ");                                        \
		printf(__VA_ARGS__);                                           \
		printf("\n");                                                  \
		exit(77);                                                      \
	} while (0)

#endif
