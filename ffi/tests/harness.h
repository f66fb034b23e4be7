/*
 * A small test harness for the C API tests: each test is a function; a test
 * passes when none of its checks failed. The last line printed is
 * "N passed, N failed"; the exit status is 1 if any test failed.
 * Checks are for the main thread (worker threads collect their own errors).
 */
#ifndef TOPGUN_STORAGE_TEST_HARNESS_H
#define TOPGUN_STORAGE_TEST_HARNESS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "topgun_storage.h"

static int harness_passed;
static int harness_failed;
static int harness_current_failures;

/* The last error message of this thread (static buffer). */
static const char *last_error(void) {
  static char message[1024];
  size_t len = 0;
  if (storage_last_error_message(message, sizeof message, &len) != STORAGE_OK) {
    return "(message did not fit)";
  }
  return message;
}

static void harness_print_last_error(void) {
  fprintf(stderr, "    last error: %s\n", last_error());
}


#define CHECK(cond)                                                         \
  do {                                                                      \
    if (!(cond)) {                                                          \
      harness_current_failures++;                                           \
      fprintf(stderr, "  %s:%d: check failed: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                       \
  } while (0)

#define CHECK_STATUS(call, expected)                                        \
  do {                                                                      \
    storage_status_t got_ = (call);                                         \
    storage_status_t want_ = (expected);                                    \
    if (got_ != want_) {                                                    \
      harness_current_failures++;                                           \
      fprintf(stderr, "  %s:%d: %s\n    returned %d (%s), expected %d (%s)\n", \
              __FILE__, __LINE__, #call, (int)got_,                         \
              storage_status_str((int)got_), (int)want_,                    \
              storage_status_str((int)want_));                              \
      harness_print_last_error();                                           \
    }                                                                       \
  } while (0)

/* Fails the test (and returns from it) when `cond` is false. */
#define REQUIRE(cond)                                                       \
  do {                                                                      \
    if (!(cond)) {                                                          \
      harness_current_failures++;                                           \
      fprintf(stderr, "  %s:%d: requirement failed: %s\n", __FILE__, __LINE__, #cond); \
      harness_print_last_error();                                           \
      return;                                                               \
    }                                                                       \
  } while (0)

typedef void (*harness_test_fn)(void);

static void harness_run(const char *name, harness_test_fn test) {
  harness_current_failures = 0;
  test();
  if (harness_current_failures == 0) {
    harness_passed++;
    printf("ok   %s\n", name);
  } else {
    harness_failed++;
    printf("FAIL %s (%d failed checks)\n", name, harness_current_failures);
  }
  fflush(stdout);
}

#define RUN(test) harness_run(#test, test)

static int harness_finish(void) {
  printf("%d passed, %d failed\n", harness_passed, harness_failed);
  return harness_failed == 0 ? 0 : 1;
}

#endif
