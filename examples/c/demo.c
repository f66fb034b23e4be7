/*
 * `make demo`, C part: the workload of examples/README.md through
 * libtopgun_storage over a redb file, printing what it did and the digest
 * of the final state; then, in a second process, the file read back.
 * Values go in as JSON text (no MessagePack library needed) and come back as
 * the MessagePack bytes the digest is computed over.
 *
 *   demo write PATH   the workload over a new redb file at PATH
 *   demo read PATH    PATH opened again, read back, its digest
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <topgun_storage.h>

#define N 100000
#define START 1700000000000LL
#define TTL 60000

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void check(storage_status_t st, const char *what) {
  if (st == STORAGE_OK) return;
  char msg[256];
  size_t len = 0;
  storage_last_error_message(msg, sizeof msg, &len);
  fprintf(stderr, "%s: %s: %s\n", what, storage_status_str(st), msg);
  exit(1);
}

/* A float as JSON that reads back as a float: "%.17g" round-trips every
 * double, and a whole number gets ".0" so it is not read as an integer. */
static void json_float(char *out, size_t cap, double v) {
  snprintf(out, cap, "%.17g", v);
  if (!strpbrk(out, ".eEn")) strncat(out, ".0", cap - strlen(out) - 1);
}

static int user_key(char *out, size_t cap, long i) { return snprintf(out, cap, "user:%ld", i); }

/* FNV-1a 64 over bytes, continuing from h. */
static uint64_t fnv(uint64_t h, const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) h = (h ^ p[i]) * 0x100000001b3ULL;
  return h;
}

/* Digest of every entry in memory: entries come as key item, value item. */
static uint64_t digest_of(storage_t *store) {
  size_t cap = 1 << 20, page_len = 0, count = 0, offset = 0;
  uint8_t *page = malloc(cap);
  if (!page) exit(1);
  uint8_t cursor[STORAGE_CURSOR_SIZE] = {0};
  bool finished = false;
  uint64_t digest = 0;
  while (!finished) {
    check(storage_fetch_entries(store, cursor, 1000, page, cap, &page_len, &count, &finished),
          "storage_fetch_entries");
    offset = 0;
    const uint8_t *k, *v;
    size_t k_len, v_len;
    while (storage_page_next(page, page_len, &offset, &k, &k_len) == STORAGE_OK &&
           storage_page_next(page, page_len, &offset, &v, &v_len) == STORAGE_OK) {
      static const uint8_t sep = 0xff;
      uint64_t h = fnv(0xcbf29ce484222325ULL, k, k_len);
      h = fnv(h, &sep, 1);
      digest += fnv(h, v, v_len);
    }
  }
  free(page);
  return digest;
}

/* The demo's store over the redb file at `path` on a manual clock starting
 * at `start`. Durability OS: an acknowledged write is in the operating
 * system when the call returns, so it survives the end of the process
 * (FSYNC, the default, also survives power loss, at one disk flush per
 * write). */
static storage_t *open_store(const char *path, int64_t start) {
  storage_options_t o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.use_manual_clock = 1;
  o.manual_clock_start_ms = start;
  o.backend = "redb";
  o.location = path;
  o.durability = STORAGE_DURABILITY_OS;
  storage_t *store = NULL;
  check(storage_new_with_options(&o, &store), "storage_new_with_options");
  return store;
}

static void close_store(storage_t *store) {
  check(storage_close(store), "storage_close");
  storage_free(store);
}

/* The second process: the file opened again on a clock where the first one
 * stopped; every key read (a miss loads from the file; a record whose TTL
 * ended is not returned), then the digest of what memory holds. */
static int read_back(const char *path) {
  double t = now_s();
  storage_t *store = open_store(path, START + TTL + 1);
  char key[32];
  uint8_t value[512];
  size_t value_len = 0, len = 0;
  long found = 0;
  for (long i = 0; i < N; i++) {
    int klen = user_key(key, sizeof key, i);
    storage_status_t st = storage_get(store, key, (size_t)klen, value, sizeof value, &value_len);
    if (st == STORAGE_OK) found++;
    else if (st != STORAGE_NOT_FOUND) check(st, "storage_get");
  }
  double secs = now_s() - t;
  check(storage_len(store, &len), "storage_len");
  printf("topgun-storage C demo, second process: %s opened again\n", path);
  printf("reopen   %d keys read in %.1f ms: %ld found on disk (removed and expired ones not); len %zu\n",
         N, secs * 1e3, found, len);
  printf("digest   %016llx\n", (unsigned long long)digest_of(store));
  close_store(store);
  return 0;
}

static int write_store(const char *path);

int main(int argc, char **argv) {
  if (argc == 3 && !strcmp(argv[1], "write")) return write_store(argv[2]);
  if (argc == 3 && !strcmp(argv[1], "read")) return read_back(argv[2]);
  fprintf(stderr, "usage: %s write|read PATH\n", argv[0]);
  return 2;
}

/* The first process: the workload over a new file, then the file closed. */
static int write_store(const char *path) {
  remove(path);
  storage_t *store = open_store(path, START);
  printf("topgun-storage C demo: libtopgun_storage %s, writing %s (redb, durability os)\n",
         storage_version(), path);

  char key[32], json[256], score[40];
  double t = now_s();
  for (long i = 0; i < N; i++) {
    int klen = user_key(key, sizeof key, i);
    json_float(score, sizeof score, (double)i + 0.25);
    int jlen = snprintf(json, sizeof json,
                        "{\"value\":{\"id\":%ld,\"name\":\"user-%ld\",\"score\":%s},"
                        "\"timestamp\":{\"millis\":%lld,\"counter\":0,\"nodeId\":\"demo-node\"}}",
                        i, i, score, START + i);
    check(storage_put_json(store, key, (size_t)klen, json, (size_t)jlen, i % 10 == 0 ? TTL : 0, 0),
          "storage_put_json");
  }
  double secs = now_s() - t;
  size_t len = 0;
  uint64_t cost = 0;
  check(storage_len(store, &len), "storage_len");
  check(storage_estimated_cost(store, &cost), "storage_estimated_cost");
  printf("put      %d records in %.1f ms (%.2f M ops/s)\n", N, secs * 1e3, N / secs / 1e6);
  printf("         len %zu, estimated cost %llu bytes\n", len, (unsigned long long)cost);

  uint8_t value[512];
  size_t value_len = 0;
  long hits = 0;
  t = now_s();
  for (long i = 0; i < N; i++) {
    int klen = user_key(key, sizeof key, (i * 7919) % N);
    if (storage_get(store, key, (size_t)klen, value, sizeof value, &value_len) == STORAGE_OK) hits++;
  }
  secs = now_s() - t;
  printf("get      %ld/%d hits in %.1f ms (%.2f M ops/s)\n", hits, N, secs * 1e3, N / secs / 1e6);

  size_t cap = 1 << 20;
  uint8_t *page = malloc(cap);
  if (!page) return 1;
  uint8_t cursor[STORAGE_CURSOR_SIZE] = {0};
  bool finished = false;
  size_t keys = 0, pages = 0;
  t = now_s();
  while (!finished) {
    size_t page_len = 0, count = 0;
    check(storage_fetch_keys(store, cursor, 1000, page, cap, &page_len, &count, &finished),
          "storage_fetch_keys");
    keys += count;
    pages++;
  }
  secs = now_s() - t;
  printf("scan     %zu keys in %zu pages of <= 1000 in %.1f ms\n", keys, pages, secs * 1e3);

  size_t page_len = 0, count = 0, offset = 0;
  check(storage_random_samples(store, 5, page, cap, &page_len, &count), "storage_random_samples");
  printf("sample   %zu random keys:", count);
  const uint8_t *item;
  size_t item_len;
  for (size_t n = 0; storage_page_next(page, page_len, &offset, &item, &item_len) == STORAGE_OK; n++)
    if (n % 2 == 0) printf("%s %.*s", n ? "," : "", (int)item_len, (const char *)item);
  printf("\n");

  long removed = 0;
  t = now_s();
  for (long i = 1; i < N; i += 4) {
    int klen = user_key(key, sizeof key, i);
    if (storage_remove(store, key, (size_t)klen) == STORAGE_OK) removed++;
  }
  secs = now_s() - t;
  check(storage_len(store, &len), "storage_len");
  printf("remove   %ld keys (i %% 4 == 1) in %.1f ms; len %zu\n", removed, secs * 1e3, len);

  int64_t now = 0;
  check(storage_clock_advance(store, TTL + 1, &now), "storage_clock_advance");
  uint64_t expired = 0;
  for (int pass = 0; pass < 20; pass++) {
    storage_maintenance_t report;
    check(storage_maintain(store, &report), "storage_maintain");
    expired += report.expired;
  }
  check(storage_len(store, &len), "storage_len");
  printf("expiry   clock +%d ms, 20 maintain() passes: %llu expired; len %zu\n", TTL + 1,
         (unsigned long long)expired, len);

  printf("written  %016llx\n", (unsigned long long)digest_of(store));
  free(page);
  close_store(store);
  return 0;
}
