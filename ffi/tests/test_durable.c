/*
 * Durable stores through the C API (docs/c-api.md, "Durable stores"):
 * opening from storage_options_t, reopening, storage_flush/storage_close,
 * the statuses of a locked file and of refused options, two threads
 * writing, and acknowledged writes surviving a SIGKILL of the writing
 * process. Every store lives in a fresh directory under $TMPDIR (or /tmp),
 * removed at the end.
 *
 * The PostgreSQL test runs when TOPGUN_TEST_POSTGRES_URL names a server
 * (make ffi-c-test starts a throwaway one, tests/postgres/cluster.sh);
 * without it the test fails when TOPGUN_REQUIRE_POSTGRES=1, else it says it
 * was skipped.
 */
#define _XOPEN_SOURCE 700

#include <errno.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char root[256];

/* A path under the test's directory (static buffer per slot). */
static const char *path_of(int slot, const char *name) {
  static char paths[4][512];
  snprintf(paths[slot], sizeof paths[slot], "%s/%s", root, name);
  return paths[slot];
}

static int remove_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)flag;
  (void)ftw;
  return remove(path);
}

static int exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0;
}

/* Options of a durable store of `backend` at `location` on a manual clock. */
static storage_options_t durable_options(const char *backend, const char *location) {
  storage_options_t o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.backend = backend;
  o.location = location;
  o.use_manual_clock = 1;
  o.manual_clock_start_ms = 1000;
  return o;
}

#define VALUE_JSON_SIZE 160

/* The JSON record holding `n`, written into `json`. */
static const char *format_value(char json[VALUE_JSON_SIZE], int n) {
  snprintf(json, VALUE_JSON_SIZE,
           "{\"value\":{\"n\":%d},\"timestamp\":{\"millis\":%d,\"counter\":0,\"nodeId\":\"c\"}}",
           n, n + 1);
  return json;
}

/* format_value into a static buffer: for the main thread's checks only. */
static const char *value_json(int n) {
  static char json[VALUE_JSON_SIZE];
  return format_value(json, n);
}

/* Safe from any thread: the record is formatted on the caller's stack. */
static storage_status_t put_n(storage_t *s, const char *key, int n, uint64_t ttl_ms) {
  char json[VALUE_JSON_SIZE];
  format_value(json, n);
  return storage_put_json(s, key, strlen(key), json, strlen(json), ttl_ms, 0);
}

/* Whether `key` reads back as value_json(n). */
static int reads_back(storage_t *s, const char *key, int n) {
  char buf[256];
  size_t len = 0;
  storage_status_t st = storage_get_json(s, key, strlen(key), buf, sizeof buf, &len);
  if (st != STORAGE_OK) {
    fprintf(stderr, "    %s: %s (%s)\n", key, storage_status_str((int)st), last_error());
    return 0;
  }
  if (strcmp(buf, value_json(n)) != 0) {
    fprintf(stderr, "    %s: read %s, expected %s\n", key, buf, value_json(n));
    return 0;
  }
  return 1;
}

static storage_status_t get_status(storage_t *s, const char *key) {
  size_t len = 0;
  return storage_get(s, key, strlen(key), NULL, 0, &len);
}

/* ---------------------------------------------------------------------------
 * SIGKILL after acknowledged writes
 * ------------------------------------------------------------------------- */

/* The child: opens the store, writes key i, then tells the parent "i is
 * acknowledged" through the pipe, until killed. Never returns. */
static void kill_child(int fd, const char *backend, const char *location, int write_behind) {
  storage_options_t o = durable_options(backend, location);
  storage_t *s = NULL;
  o.use_manual_clock = 0;
  o.manual_clock_start_ms = 0;
  o.write_behind = (uint32_t)write_behind;
  if (storage_new_with_options(&o, &s) != STORAGE_OK) {
    fprintf(stderr, "    child: open failed: %s\n", last_error());
    _exit(2);
  }
  for (int32_t i = 0;; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%d", (int)i);
    if (put_n(s, key, (int)i, 0) != STORAGE_OK) {
      fprintf(stderr, "    child: put failed: %s\n", last_error());
      _exit(3);
    }
    if (write(fd, &i, sizeof i) != (ssize_t)sizeof i) {
      _exit(4);
    }
  }
}

/* Runs a child writing to `backend`, kills it with SIGKILL once it has
 * acknowledged `acks` writes, and checks that every acknowledged write
 * reads back in this process. Returns the writes acknowledged, -1 when the
 * backend is not in this build. */
static int kill_round(const char *backend, const char *location, int write_behind, int acks) {
  int fds[2];
  int32_t last = -1, got;
  int status = 0;
  pid_t pid;
  storage_options_t o;
  storage_t *s = NULL;

  if (pipe(fds) != 0) {
    return -2;
  }
  fflush(NULL);
  pid = fork();
  if (pid < 0) {
    return -2;
  }
  if (pid == 0) {
    close(fds[0]);
    kill_child(fds[1], backend, location, write_behind);
  }
  close(fds[1]);
  while (last + 1 < acks && read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) {
    last = got;
  }
  kill(pid, SIGKILL);
  /* Acknowledgements already in the pipe count too. */
  while (read(fds[0], &got, sizeof got) == (ssize_t)sizeof got) {
    last = got;
  }
  close(fds[0]);
  waitpid(pid, &status, 0);
  if (!(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)) {
    fprintf(stderr, "    %s: the child ended by itself (status %d), not by SIGKILL\n", backend,
            status);
    return -2;
  }

  o = durable_options(backend, location);
  o.write_behind = (uint32_t)write_behind;
  if (storage_new_with_options(&o, &s) != STORAGE_OK) {
    fprintf(stderr, "    %s: reopen after SIGKILL failed: %s\n", backend, last_error());
    return -2;
  }
  for (int32_t i = 0; i <= last; i++) {
    char key[32];
    snprintf(key, sizeof key, "k%d", (int)i);
    if (!reads_back(s, key, (int)i)) {
      fprintf(stderr, "    %s: acknowledged write %d of %d lost\n", backend, (int)i, (int)last + 1);
      storage_free(s);
      return -2;
    }
  }
  if (storage_close(s) != STORAGE_OK) {
    storage_free(s);
    return -2;
  }
  storage_free(s);
  return (int)last + 1;
}

/* Runs first, while this process has no other thread (fork copies only the
 * calling thread). */
static void test_sigkill_after_acknowledged_writes(void) {
  struct {
    const char *backend;
    const char *name;
    int write_behind;
  } rounds[] = {
      {"redb", "kill.redb", 0},
      {"redb", "kill-wb.redb", 1},
      {"lmdb", "kill-lmdb", 0},
      {"rocksdb", "kill-rocksdb", 0},
  };
  for (size_t r = 0; r < sizeof rounds / sizeof rounds[0]; r++) {
    int acked = kill_round(rounds[r].backend, path_of(0, rounds[r].name), rounds[r].write_behind, 40);
    CHECK(acked >= 40);
    printf("     %s%s: %d acknowledged writes read back after SIGKILL\n", rounds[r].backend,
           rounds[r].write_behind ? " (write-behind, logged)" : "", acked);
  }
}

/* ---------------------------------------------------------------------------
 * Reopen, expiry, close
 * ------------------------------------------------------------------------- */

static void test_reopen_keeps_values_and_expiry(void) {
  const char *file = path_of(0, "reopen.redb");
  storage_options_t o = durable_options(NULL, file); /* NULL backend: redb */
  storage_t *s = NULL;
  storage_metadata_t meta;
  char buf[256];
  size_t len = 0;

  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(put_n(s, "forever", 1, 0), STORAGE_OK);
  CHECK_STATUS(put_n(s, "five-seconds", 2, 5000), STORAGE_OK); /* expires after 6000 */
  CHECK_STATUS(put_n(s, "gone", 3, 0), STORAGE_OK);
  CHECK_STATUS(storage_remove(s, "gone", 4), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);
  CHECK(exists(file));

  /* A second process life: nothing in memory, everything on disk. */
  o.manual_clock_start_ms = 2000;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(storage_contains_key(s, "forever", 7), STORAGE_OK); /* not loaded by this */
  CHECK_STATUS(storage_contains_key(s, "gone", 4), STORAGE_NOT_FOUND);
  CHECK(reads_back(s, "forever", 1));
  CHECK_STATUS(storage_get_with_metadata(s, "five-seconds", 12, (uint8_t *)buf, sizeof buf, &len,
                                         &meta),
               STORAGE_OK);
  CHECK(meta.ttl_ms == 5000);
  CHECK(meta.expiration_time_ms == 6000);
  CHECK(meta.last_stored_time_ms != 0);
  CHECK_STATUS(get_status(s, "gone"), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_clock_set(s, 6001), STORAGE_OK);
  CHECK_STATUS(get_status(s, "five-seconds"), STORAGE_NOT_FOUND);
  CHECK(reads_back(s, "forever", 1));
  /* A key only on disk can be removed. */
  CHECK_STATUS(put_n(s, "disk-only", 4, 0), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);

  o.manual_clock_start_ms = 6001;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(get_status(s, "five-seconds"), STORAGE_NOT_FOUND); /* expired on disk too */
  CHECK_STATUS(storage_contains_key(s, "five-seconds", 12), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_remove(s, "disk-only", 9), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);

  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(get_status(s, "disk-only"), STORAGE_NOT_FOUND);
  CHECK(reads_back(s, "forever", 1));
  storage_free(s); /* without storage_close: closed best effort */
}

static void test_calls_after_close(void) {
  const char *file = path_of(0, "closed.redb");
  storage_options_t o = durable_options("redb", file);
  storage_t *s = NULL;
  size_t n = 0;

  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(put_n(s, "a", 1, 0), STORAGE_OK);
  CHECK_STATUS(storage_flush(s), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  CHECK_STATUS(get_status(s, "a"), STORAGE_CLOSED);
  CHECK(strstr(last_error(), "storage_close") != NULL);
  CHECK_STATUS(put_n(s, "b", 2, 0), STORAGE_CLOSED);
  CHECK_STATUS(storage_remove(s, "a", 1), STORAGE_CLOSED);
  CHECK_STATUS(storage_flush(s), STORAGE_CLOSED);
  CHECK_STATUS(storage_len(s, &n), STORAGE_CLOSED);
  CHECK_STATUS(storage_unsubscribe(s, 1), STORAGE_CLOSED);
  CHECK_STATUS(storage_clear(s, NULL), STORAGE_CLOSED);
  CHECK_STATUS(storage_close(s), STORAGE_OK); /* a second close does nothing */
  CHECK_STATUS(storage_close(NULL), STORAGE_NULL_POINTER);
  storage_free(s);

  /* Reopen after close, in the same process: the lock was released. */
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK(reads_back(s, "a", 1));
  CHECK_STATUS(get_status(s, "b"), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);

  /* A store in memory closes too. */
  CHECK_STATUS(storage_new(&s), STORAGE_OK);
  CHECK_STATUS(put_n(s, "m", 1, 0), STORAGE_OK);
  CHECK_STATUS(storage_flush(s), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  CHECK_STATUS(get_status(s, "m"), STORAGE_CLOSED);
  storage_free(s);
}

static void test_second_open_is_locked(void) {
  const char *file = path_of(0, "locked.redb");
  storage_options_t o = durable_options("redb", file);
  storage_t *first = NULL;
  storage_t *second = (storage_t *)&o; /* must be overwritten with NULL */

  REQUIRE(storage_new_with_options(&o, &first) == STORAGE_OK);
  CHECK_STATUS(put_n(first, "x", 1, 0), STORAGE_OK);
  CHECK_STATUS(storage_new_with_options(&o, &second), STORAGE_LOCKED);
  CHECK(second == NULL);
  CHECK(strlen(last_error()) > 0);
  printf("     second open: %s\n", last_error());
  CHECK_STATUS(storage_close(first), STORAGE_OK);
  storage_free(first);
  REQUIRE(storage_new_with_options(&o, &second) == STORAGE_OK);
  CHECK(reads_back(second, "x", 1));
  CHECK_STATUS(storage_close(second), STORAGE_OK);
  storage_free(second);
}

/* ---------------------------------------------------------------------------
 * Refused options
 * ------------------------------------------------------------------------- */

static void expect_refused(storage_options_t *o, storage_status_t status, const char *needle) {
  storage_t *s = (storage_t *)o;
  CHECK_STATUS(storage_new_with_options(o, &s), status);
  CHECK(s == NULL);
  if (strstr(last_error(), needle) == NULL) {
    CHECK(!"the message names the problem");
    fprintf(stderr, "    expected \"%s\" in: %s\n", needle, last_error());
  }
  if (s != NULL && s != (storage_t *)o) {
    storage_free(s);
  }
}

static void test_bad_options(void) {
  const char *file = path_of(0, "never-created.redb");
  storage_options_t o;
  storage_option_t extra[2];
  storage_t *s = NULL;

  o = durable_options("sqlite", file);
  expect_refused(&o, STORAGE_REJECTED, "unknown backend \"sqlite\"");
  o = durable_options("redb", NULL);
  expect_refused(&o, STORAGE_REJECTED, "needs a path");
  o = durable_options("memory", file);
  expect_refused(&o, STORAGE_REJECTED, "no path");

  o = durable_options("redb", file);
  extra[0].name = "colour";
  extra[0].value = "blue";
  o.extra_options = extra;
  o.extra_options_len = 1;
  expect_refused(&o, STORAGE_REJECTED, "unknown option \"colour\"");
  extra[0].name = "durability";
  extra[0].value = "always";
  expect_refused(&o, STORAGE_REJECTED, "option durability");
  extra[0].name = "write_delay_ms";
  extra[0].value = "soon";
  expect_refused(&o, STORAGE_REJECTED, "write_delay_ms");
  extra[0].name = "max_map_size";
  extra[0].value = "4096";
  expect_refused(&o, STORAGE_REJECTED, "lmdb");
  extra[0].name = NULL;
  expect_refused(&o, STORAGE_NULL_POINTER, "extra_options[0].name");
  extra[0].name = "wal";
  extra[0].value = NULL;
  expect_refused(&o, STORAGE_NULL_POINTER, "extra_options[0].value");
  o.extra_options = NULL;
  expect_refused(&o, STORAGE_NULL_POINTER, "extra_options");

  o = durable_options("redb", file);
  o.durability = 7;
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "options.durability is 7");
  o.durability = STORAGE_DURABILITY_OS;
  o.write_behind = 2;
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "options.write_behind is 2");
  o = durable_options("redb", file);
  o.map_name = "";
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "map_name");
  o = durable_options("redb", "\xff.redb");
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "options.location` is not valid UTF-8");

  /* Data-store fields without a data store. */
  o = durable_options(NULL, NULL);
  o.durability = STORAGE_DURABILITY_FSYNC;
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "set options.location");
  o = durable_options(NULL, NULL);
  o.write_behind = 1;
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "set options.location");

  /* A struct of no known size (between the first version's and this one). */
  o = durable_options("redb", file);
  o.struct_size = 64;
  expect_refused(&o, STORAGE_INVALID_ARGUMENT, "struct_size");

  CHECK(!exists(file)); /* nothing refused left a file behind */

  /* The first version of the struct (56 bytes, before the data-store
   * fields) still opens a store in memory. */
  o = durable_options(NULL, NULL);
  o.struct_size = 56;
  o.backend = "ignored: past the caller's struct";
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_OK);
  CHECK_STATUS(put_n(s, "k", 1, 0), STORAGE_OK);
  storage_free(s);
}

/* ---------------------------------------------------------------------------
 * Options and backends
 * ------------------------------------------------------------------------- */

static void test_write_behind_and_options_by_name(void) {
  const char *file = path_of(0, "wb.redb");
  storage_options_t o = durable_options("redb", file);
  storage_option_t extra[3] = {
      {"write_delay_ms", "60000"}, /* nothing leaves the queue by itself */
      {"write_batch_size", "7"},
      {"cache_size", "1048576"},
  };
  storage_t *s = NULL;
  o.write_behind = 1;
  o.durability = STORAGE_DURABILITY_OS;
  o.map_name = "orders";
  o.extra_options = extra;
  o.extra_options_len = 3;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  for (int i = 0; i < 20; i++) {
    char key[16];
    snprintf(key, sizeof key, "o%d", i);
    CHECK_STATUS(put_n(s, key, i, 0), STORAGE_OK);
  }
  CHECK(reads_back(s, "o3", 3));
  CHECK_STATUS(storage_flush(s), STORAGE_OK);
  CHECK_STATUS(put_n(s, "after-flush", 99, 0), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK); /* drains the queue */
  storage_free(s);
  CHECK(exists(path_of(1, "wb.redb.wal")));

  /* Write-through over the same file: what the queue held is there. */
  o.write_behind = 0;
  o.extra_options_len = 0;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  for (int i = 0; i < 20; i++) {
    char key[16];
    snprintf(key, sizeof key, "o%d", i);
    CHECK(reads_back(s, key, i));
  }
  CHECK(reads_back(s, "after-flush", 99));
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);

  /* Maps are separate: the default map of the same file is empty. */
  o.map_name = NULL;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(get_status(s, "o3"), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);
}

/* Write, close, reopen, read back on a backend; -1 when it is not built. */
static int round_trip(const char *backend, const char *location, int reopen) {
  storage_options_t o = durable_options(backend, location);
  storage_t *s = NULL;
  storage_status_t st = storage_new_with_options(&o, &s);
  if (st == STORAGE_REJECTED && strstr(last_error(), "not built") != NULL) {
    return -1;
  }
  if (st != STORAGE_OK) {
    fprintf(stderr, "    %s: open: %s: %s\n", backend, storage_status_str((int)st), last_error());
    return 0;
  }
  int ok = put_n(s, "k1", 1, 0) == STORAGE_OK && put_n(s, "k2", 2, 60000) == STORAGE_OK &&
           storage_close(s) == STORAGE_OK;
  storage_free(s);
  if (!ok || !reopen) {
    return ok;
  }
  o.manual_clock_start_ms = 30000;
  if (storage_new_with_options(&o, &s) != STORAGE_OK) {
    fprintf(stderr, "    %s: reopen: %s\n", backend, last_error());
    return 0;
  }
  ok = reads_back(s, "k1", 1) && reads_back(s, "k2", 2);
  storage_clock_set(s, 61001);
  ok = ok && get_status(s, "k2") == STORAGE_NOT_FOUND && reads_back(s, "k1", 1);
  ok = storage_close(s) == STORAGE_OK && ok;
  storage_free(s);
  return ok;
}

static void test_every_backend_on_disk(void) {
  CHECK(round_trip("lmdb", path_of(0, "maps-lmdb"), 1) == 1);
  CHECK(round_trip("rocksdb", path_of(0, "maps-rocksdb"), 1) == 1);
  CHECK(round_trip("memory", NULL, 0) == 1);
}

static void test_postgres(void) {
  const char *url = getenv("TOPGUN_TEST_POSTGRES_URL");
  const char *require = getenv("TOPGUN_REQUIRE_POSTGRES");
  storage_options_t o;
  storage_option_t extra[1];
  char table[64];
  storage_t *s = NULL;
  if (url == NULL || *url == '\0') {
    CHECK(require == NULL || strcmp(require, "1") != 0);
    printf("     skipped: TOPGUN_TEST_POSTGRES_URL is not set\n");
    return;
  }
  snprintf(table, sizeof table, "c_api_%ld", (long)getpid());
  extra[0].name = "table_name";
  extra[0].value = table;
  o = durable_options("postgres", url);
  o.extra_options = extra;
  o.extra_options_len = 1;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK_STATUS(put_n(s, "pg1", 1, 0), STORAGE_OK);
  CHECK_STATUS(put_n(s, "pg2", 2, 5000), STORAGE_OK);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);
  o.manual_clock_start_ms = 3000;
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  CHECK(reads_back(s, "pg1", 1));
  CHECK(reads_back(s, "pg2", 2));
  CHECK_STATUS(storage_clock_set(s, 6001), STORAGE_OK);
  CHECK_STATUS(get_status(s, "pg2"), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);

  /* An option PostgreSQL does not have is refused by name. */
  extra[0].name = "pool_colour";
  extra[0].value = "red";
  expect_refused(&o, STORAGE_REJECTED, "pool_colour");
}

/* ---------------------------------------------------------------------------
 * Two threads writing
 * ------------------------------------------------------------------------- */

#define WRITES_PER_THREAD 150

struct writer {
  storage_t *storage;
  int id;
  int failures;
};

static void *write_keys(void *arg) {
  struct writer *w = arg;
  for (int i = 0; i < WRITES_PER_THREAD; i++) {
    char key[32];
    snprintf(key, sizeof key, "t%d-%d", w->id, i);
    if (put_n(w->storage, key, w->id * 1000 + i, 0) != STORAGE_OK ||
        put_n(w->storage, "shared", w->id * 1000 + i, 0) != STORAGE_OK) {
      w->failures++;
    }
  }
  return NULL;
}

static void test_two_threads_writing(void) {
  const char *file = path_of(0, "threads.redb");
  storage_options_t o = durable_options("redb", file);
  struct writer writers[2];
  pthread_t threads[2];
  storage_t *s = NULL;
  char buf[256];
  size_t len = 0;

  o.durability = STORAGE_DURABILITY_NONE; /* durable at close */
  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  for (int t = 0; t < 2; t++) {
    writers[t].storage = s;
    writers[t].id = t + 1;
    writers[t].failures = 0;
    REQUIRE(pthread_create(&threads[t], NULL, write_keys, &writers[t]) == 0);
  }
  for (int t = 0; t < 2; t++) {
    pthread_join(threads[t], NULL);
    CHECK(writers[t].failures == 0);
  }
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);

  REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
  for (int t = 1; t <= 2; t++) {
    for (int i = 0; i < WRITES_PER_THREAD; i++) {
      char key[32];
      snprintf(key, sizeof key, "t%d-%d", t, i);
      CHECK(reads_back(s, key, t * 1000 + i));
    }
  }
  /* The shared key holds one thread's last write. */
  CHECK_STATUS(storage_get_json(s, "shared", 6, buf, sizeof buf, &len), STORAGE_OK);
  CHECK(strcmp(buf, value_json(1000 + WRITES_PER_THREAD - 1)) == 0 ||
        strcmp(buf, value_json(2000 + WRITES_PER_THREAD - 1)) == 0);
  CHECK_STATUS(storage_close(s), STORAGE_OK);
  storage_free(s);
}

int main(void) {
  const char *tmp = getenv("TMPDIR");
  snprintf(root, sizeof root, "%s/topgun-c-durable-XXXXXX", tmp != NULL && *tmp ? tmp : "/tmp");
  if (mkdtemp(root) == NULL) {
    perror("mkdtemp");
    return 1;
  }
  RUN(test_sigkill_after_acknowledged_writes); /* first: no other thread yet */
  RUN(test_reopen_keeps_values_and_expiry);
  RUN(test_calls_after_close);
  RUN(test_second_open_is_locked);
  RUN(test_bad_options);
  RUN(test_write_behind_and_options_by_name);
  RUN(test_every_backend_on_disk);
  RUN(test_two_threads_writing);
  RUN(test_postgres);
  nftw(root, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  return harness_finish();
}
