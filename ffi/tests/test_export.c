/*
 * storage_export(), storage_import() and storage_export_verify(): a round
 * trip keeps every record and its metadata; an export taken while another
 * thread writes is the state at one instant (the progress callback holds
 * the export until the writer has rewritten the whole store, so the writes
 * surely overlap it); truncated, bit-flipped and foreign files are
 * STORAGE_CORRUPT and change nothing; bad arguments; storage_free() from a
 * progress callback is refused. Time is the manual clock.
 */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "topgun_storage.h"

#define T0 1700000000000LL
#define KEYS 3000

static char dir[256];

static void path_in_dir(char *out, size_t cap, const char *name) {
  snprintf(out, cap, "%s/%s", dir, name);
}

static storage_t *new_store(void) {
  storage_options_t o;
  storage_t *s = NULL;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.use_manual_clock = 1;
  o.manual_clock_start_ms = T0;
  if (storage_new_with_options(&o, &s) != STORAGE_OK || s == NULL) {
    fprintf(stderr, "storage_new_with_options failed: %s\n", last_error());
    abort();
  }
  return s;
}

static void key_of(int i, char *out, size_t cap) { snprintf(out, cap, "key-%05d", i); }

static storage_status_t put_int(storage_t *s, int i, long value, uint64_t ttl_ms) {
  char json[256], key[32];
  uint8_t buf[256];
  size_t len = 0;
  snprintf(json, sizeof json,
           "{\"value\":%ld,\"timestamp\":{\"millis\":%ld,\"counter\":0,\"nodeId\":\"n1\"}}",
           value, value + 1);
  if (storage_value_json_to_msgpack(json, strlen(json), buf, sizeof buf, &len) != STORAGE_OK) {
    abort();
  }
  key_of(i, key, sizeof key);
  return storage_put(s, key, strlen(key), buf, len, ttl_ms, 0);
}

/* The integer value under key i, or -1 when absent. */
static long get_int(storage_t *s, int i) {
  char key[32], json[512];
  size_t len = 0;
  const char *v;
  key_of(i, key, sizeof key);
  if (storage_get_json(s, key, strlen(key), json, sizeof json - 1, &len) != STORAGE_OK) return -1;
  json[len] = '\0';
  v = strstr(json, "\"value\":");
  return v == NULL ? -2 : strtol(v + 8, NULL, 10);
}

static size_t len_of(storage_t *s) {
  size_t n = (size_t)-1;
  if (storage_len(s, &n) != STORAGE_OK) abort();
  return n;
}

static long file_bytes(const char *path, uint8_t **out) {
  FILE *f = fopen(path, "rb");
  long n;
  if (f == NULL) return -1;
  fseek(f, 0, SEEK_END);
  n = ftell(f);
  fseek(f, 0, SEEK_SET);
  *out = malloc((size_t)n);
  if (*out == NULL || fread(*out, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
  return n;
}

static void write_bytes(const char *path, const uint8_t *bytes, long n) {
  FILE *f = fopen(path, "wb");
  if (f == NULL || fwrite(bytes, 1, (size_t)n, f) != (size_t)n) abort();
  fclose(f);
}

struct progress_log {
  int calls;
  int checking_calls;
  uint64_t last_done;
  uint64_t last_total;
  int went_back;
};

static void log_progress(const storage_progress_t *p, void *user_data) {
  struct progress_log *log = user_data;
  if (p->checking) log->checking_calls++;
  if (log->calls > 0 && p->checking == 0 && log->checking_calls == 0 &&
      p->records_done < log->last_done) {
    log->went_back = 1;
  }
  log->calls++;
  log->last_done = p->records_done;
  log->last_total = p->records_total;
}

/* ------------------------------------------------------------------ tests */

static void test_round_trip_keeps_records_and_metadata(void) {
  storage_t *a = new_store(), *b = new_store();
  storage_export_summary_t summary;
  struct progress_log log;
  storage_metadata_t ma, mb;
  char path[300], key[32];
  uint8_t buf[256];
  size_t len = 0;
  int i;
  for (i = 0; i < KEYS; i++) REQUIRE(put_int(a, i, i, i % 2 ? 60000 : 0) == STORAGE_OK);
  path_in_dir(path, sizeof path, "round.tgx");
  memset(&log, 0, sizeof log);
  CHECK_STATUS(storage_export(a, path, log_progress, &log, &summary), STORAGE_OK);
  CHECK(summary.kind == STORAGE_EXPORT_STORE);
  CHECK(summary.records == KEYS);
  CHECK(summary.stores == 1);
  CHECK(summary.instant_ms == T0);
  CHECK(summary.bytes > KEYS * 64);
  CHECK(log.calls >= 2);
  CHECK(log.last_done == KEYS);
  CHECK(log.last_total == KEYS);
  CHECK(!log.went_back);

  memset(&log, 0, sizeof log);
  memset(&summary, 0, sizeof summary);
  CHECK_STATUS(storage_import(b, path, log_progress, &log, &summary), STORAGE_OK);
  CHECK(summary.records == KEYS);
  CHECK(log.checking_calls >= 1);
  CHECK(log.last_done == KEYS);
  CHECK(len_of(b) == KEYS);
  for (i = 0; i < KEYS; i++) CHECK(get_int(b, i) == i);
  /* Metadata as exported: the TTL of odd keys, and it still expires. */
  key_of(1, key, sizeof key);
  CHECK_STATUS(storage_get_with_metadata(a, key, strlen(key), buf, sizeof buf, &len, &ma),
               STORAGE_OK);
  CHECK_STATUS(storage_get_with_metadata(b, key, strlen(key), buf, sizeof buf, &len, &mb),
               STORAGE_OK);
  CHECK(mb.ttl_ms == 60000);
  CHECK(mb.creation_time_ms == ma.creation_time_ms);
  CHECK_STATUS(storage_clock_advance(b, 60001, NULL), STORAGE_OK);
  CHECK(get_int(b, 1) == -1);
  CHECK(get_int(b, 2) == 2);

  /* verify reads the same file without a handle. */
  memset(&summary, 0, sizeof summary);
  CHECK_STATUS(storage_export_verify(path, NULL, NULL, &summary), STORAGE_OK);
  CHECK(summary.records == KEYS);
  /* Progress and summary may be NULL. */
  CHECK_STATUS(storage_export(a, path, NULL, NULL, NULL), STORAGE_OK);
  CHECK_STATUS(storage_import(b, path, NULL, NULL, NULL), STORAGE_OK);
  storage_free(a);
  storage_free(b);
}

struct writer_state {
  storage_t *s;
  volatile int stop;
  long writes; /* guarded by lock */
  pthread_mutex_t lock;
  int failed;
};

static long writes_of(struct writer_state *w) {
  long n;
  pthread_mutex_lock(&w->lock);
  n = w->writes;
  pthread_mutex_unlock(&w->lock);
  return n;
}

/* Rounds g = 1, 2, ...: key 0, 1, ... KEYS-1 each set to g, in key order.
 * At any instant, keys 0..k-1 hold g+1 and keys k.. hold g. */
static void *writer(void *arg) {
  struct writer_state *w = arg;
  long g;
  for (g = 1; !w->stop; g++) {
    int i;
    for (i = 0; i < KEYS; i++) {
      if (put_int(w->s, i, g, 0) != STORAGE_OK) w->failed = 1;
      pthread_mutex_lock(&w->lock);
      w->writes++;
      pthread_mutex_unlock(&w->lock);
    }
  }
  return NULL;
}

struct holding {
  struct writer_state *w;
  long start;
  int held;
};

/* On its first call, waits until the writer has rewritten every key after
 * the export's snapshot was taken. */
static void hold_export(const storage_progress_t *p, void *user_data) {
  struct holding *h = user_data;
  (void)p;
  if (h->held) return;
  h->held = 1;
  while (writes_of(h->w) < h->start + KEYS) sched_yield();
}

static void test_export_during_writes_is_one_instant(void) {
  storage_t *s = new_store(), *copy = new_store();
  struct writer_state w;
  struct holding h;
  pthread_t thread;
  char path[300];
  long first, g, live_differs = 0;
  int i, k, bad = 0;
  memset(&w, 0, sizeof w);
  w.s = s;
  pthread_mutex_init(&w.lock, NULL);
  for (i = 0; i < KEYS; i++) REQUIRE(put_int(s, i, 0, 0) == STORAGE_OK);
  REQUIRE(pthread_create(&thread, NULL, writer, &w) == 0);
  while (writes_of(&w) < KEYS / 2) sched_yield();
  path_in_dir(path, sizeof path, "during.tgx");
  h.w = &w;
  h.start = writes_of(&w);
  h.held = 0;
  CHECK_STATUS(storage_export(s, path, hold_export, &h, NULL), STORAGE_OK);
  w.stop = 1;
  pthread_join(thread, NULL);
  CHECK(!w.failed);
  CHECK(h.held);
  CHECK_STATUS(storage_import(copy, path, NULL, NULL, NULL), STORAGE_OK);
  REQUIRE(len_of(copy) == KEYS);
  /* One instant: a prefix of keys at g+1, the rest at g. */
  first = get_int(copy, 0);
  g = get_int(copy, KEYS - 1);
  CHECK(first == g || first == g + 1);
  k = 0;
  while (k < KEYS && get_int(copy, k) == first) k++;
  for (i = k; i < KEYS; i++) {
    if (get_int(copy, i) != g) bad++;
  }
  CHECK(bad == 0);
  if (bad) fprintf(stderr, "    %d keys break the one-instant pattern\n", bad);
  /* The writer rewrote every key after the snapshot: the live store moved on. */
  for (i = 0; i < KEYS; i++) live_differs += get_int(s, i) != get_int(copy, i);
  CHECK(live_differs > 0);
  pthread_mutex_destroy(&w.lock);
  storage_free(s);
  storage_free(copy);
}

static void expect_corrupt(const char *path, storage_t *target, const char *what) {
  storage_status_t st = storage_import(target, path, NULL, NULL, NULL);
  if (st != STORAGE_CORRUPT) {
    harness_current_failures++;
    fprintf(stderr, "  %s: storage_import returned %s, expected corrupt\n", what,
            storage_status_str((int)st));
    harness_print_last_error();
  }
  CHECK(strstr(last_error(), path) != NULL);
  CHECK_STATUS(storage_export_verify(path, NULL, NULL, NULL), STORAGE_CORRUPT);
}

static void test_truncated_or_damaged_files_are_corrupt_and_change_nothing(void) {
  storage_t *s = new_store(), *target = new_store();
  char path[300], bad[300];
  uint8_t *bytes = NULL;
  long n, cut;
  int i;
  for (i = 0; i < 200; i++) REQUIRE(put_int(s, i, i, 0) == STORAGE_OK);
  REQUIRE(put_int(target, 0, 777, 0) == STORAGE_OK);
  path_in_dir(path, sizeof path, "good.tgx");
  path_in_dir(bad, sizeof bad, "bad.tgx");
  REQUIRE(storage_export(s, path, NULL, NULL, NULL) == STORAGE_OK);
  n = file_bytes(path, &bytes);
  REQUIRE(n > 100);
  /* Truncations: inside the header, inside the first frame, just before the
   * end frame, one byte short. */
  {
    long cuts[] = {0, 10, 23, 24, 40, n / 2, n - 30, n - 1};
    for (cut = 0; cut < (long)(sizeof cuts / sizeof cuts[0]); cut++) {
      write_bytes(bad, bytes, cuts[cut]);
      expect_corrupt(bad, target, "truncated");
      if (cuts[cut] > 24) CHECK(strstr(last_error(), "damaged") != NULL);
    }
  }
  /* A flipped bit in the header, in a record, in the end frame. */
  {
    long at[] = {9, 30, n / 2, n - 5};
    for (i = 0; i < (int)(sizeof at / sizeof at[0]); i++) {
      bytes[at[i]] ^= 0x10;
      write_bytes(bad, bytes, n);
      expect_corrupt(bad, target, "bit flip");
      bytes[at[i]] ^= 0x10;
    }
  }
  /* Trailing bytes after the end frame. */
  {
    uint8_t *longer = malloc((size_t)n + 1);
    REQUIRE(longer != NULL);
    memcpy(longer, bytes, (size_t)n);
    longer[n] = 0;
    write_bytes(bad, longer, n + 1);
    expect_corrupt(bad, target, "trailing byte");
    free(longer);
  }
  /* A file that is not an export at all. */
  write_bytes(bad, (const uint8_t *)"hello, world, not an export file", 32);
  expect_corrupt(bad, target, "foreign file");
  CHECK(strstr(last_error(), "not a topgun-storage export") != NULL);
  /* Nothing changed in the target. */
  CHECK(len_of(target) == 1);
  CHECK(get_int(target, 0) == 777);
  /* The intact file still imports. */
  CHECK_STATUS(storage_import(target, path, NULL, NULL, NULL), STORAGE_OK);
  CHECK(len_of(target) == 200);
  CHECK(get_int(target, 0) == 0);
  free(bytes);
  storage_free(s);
  storage_free(target);
}

static void test_bad_arguments(void) {
  storage_t *s = new_store();
  char missing[300], in_missing_dir[300];
  path_in_dir(missing, sizeof missing, "missing.tgx");
  path_in_dir(in_missing_dir, sizeof in_missing_dir, "no/such/dir/x.tgx");
  CHECK_STATUS(storage_export(NULL, missing, NULL, NULL, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_export(s, NULL, NULL, NULL, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_import(s, NULL, NULL, NULL, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_export_verify(NULL, NULL, NULL, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_export(s, "", NULL, NULL, NULL), STORAGE_INVALID_ARGUMENT);
  CHECK_STATUS(storage_import(s, missing, NULL, NULL, NULL), STORAGE_IO);
  CHECK(strstr(last_error(), missing) != NULL);
  CHECK_STATUS(storage_export(s, in_missing_dir, NULL, NULL, NULL), STORAGE_IO);
  CHECK(access(in_missing_dir, F_OK) != 0);
  storage_free(s);
}

struct freeing {
  storage_t *s;
  int calls;
};

static void free_from_progress(const storage_progress_t *p, void *user_data) {
  struct freeing *f = user_data;
  (void)p;
  f->calls++;
  storage_free(f->s); /* refused: the handle stays live */
}

static void test_free_from_a_progress_callback_is_refused(void) {
  storage_t *s = new_store();
  struct freeing f;
  char path[300];
  size_t n = 0;
  int i;
  for (i = 0; i < 10; i++) REQUIRE(put_int(s, i, i, 0) == STORAGE_OK);
  path_in_dir(path, sizeof path, "free.tgx");
  f.s = s;
  f.calls = 0;
  CHECK_STATUS(storage_export(s, path, free_from_progress, &f, NULL), STORAGE_OK);
  CHECK(f.calls >= 1);
  CHECK(strstr(last_error(), "inside a callback") != NULL);
  CHECK_STATUS(storage_len(s, &n), STORAGE_OK);
  CHECK(n == 10);
  storage_free(s);
}

static void remove_dir(void) {
  const char *names[] = {"round.tgx", "during.tgx", "good.tgx", "bad.tgx", "free.tgx"};
  char path[300];
  size_t i;
  for (i = 0; i < sizeof names / sizeof names[0]; i++) {
    path_in_dir(path, sizeof path, names[i]);
    unlink(path);
  }
  rmdir(dir);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(dir, sizeof dir, "%s/topgun-export-XXXXXX", tmp && *tmp ? tmp : "/tmp");
  if (mkdtemp(dir) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  printf("topgun_storage C export/import tests (library %s)\n", storage_version());
  RUN(test_round_trip_keeps_records_and_metadata);
  RUN(test_export_during_writes_is_one_instant);
  RUN(test_truncated_or_damaged_files_are_corrupt_and_change_nothing);
  RUN(test_bad_arguments);
  RUN(test_free_from_a_progress_callback_is_refused);
  remove_dir();
  return harness_finish();
}
