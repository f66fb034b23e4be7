/*
 * The C API, function by function and status by status, including bad
 * input: NULL handles and pointers, keys that are not UTF-8, malformed
 * MessagePack and JSON, wrong shapes, out-of-range numbers, malformed,
 * truncated and corrupted cursors, buffers too small at every output and
 * zero-capacity size queries. Single-threaded; see test_threads.c for the
 * concurrent test. Time is driven by the manual clock, never by sleeping.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "topgun_storage.h"

#define KEY(s) (s), strlen(s)
#define T0 1700000000000LL

/* MessagePack of {"value":"hello","timestamp":{"millis":1,"counter":0,"nodeId":"n1"}},
 * written out by hand (TopGun's wire form, canonical key order). */
static const char HELLO_MSGPACK[] =
    "\x82"
    "\xa5" "value" "\xa5" "hello"
    "\xa9" "timestamp" "\x83"
    "\xa6" "millis" "\x01"
    "\xa7" "counter" "\x00"
    "\xa6" "nodeId" "\xa2" "n1";
#define HELLO_LEN (sizeof HELLO_MSGPACK - 1)
static const char HELLO_JSON[] =
    "{\"value\":\"hello\",\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n1\"}}";

/* ---------------------------------------------------------------- helpers */

static size_t lww(const char *value_json, long millis, uint8_t *buf, size_t cap) {
  char json[2048];
  size_t len = 0;
  snprintf(json, sizeof json,
           "{\"value\":%s,\"timestamp\":{\"millis\":%ld,\"counter\":0,\"nodeId\":\"n1\"}}",
           value_json, millis);
  if (storage_value_json_to_msgpack(json, strlen(json), buf, cap, &len) != STORAGE_OK) {
    fprintf(stderr, "lww(%s) failed: %s\n", json, last_error());
    abort();
  }
  return len;
}

static storage_status_t put_lww(storage_t *s, const char *key, const char *value_json,
                                uint64_t ttl_ms, uint64_t max_idle_ms) {
  uint8_t buf[2048];
  size_t len = lww(value_json, 1, buf, sizeof buf);
  return storage_put(s, key, strlen(key), buf, len, ttl_ms, max_idle_ms);
}

static storage_t *new_store(void) {
  storage_t *s = NULL;
  if (storage_new(&s) != STORAGE_OK || s == NULL) {
    fprintf(stderr, "storage_new failed: %s\n", last_error());
    abort();
  }
  return s;
}

static storage_options_t manual_options(void) {
  storage_options_t o;
  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.use_manual_clock = 1;
  o.manual_clock_start_ms = T0;
  return o;
}

static storage_t *new_with(const storage_options_t *o) {
  storage_t *s = NULL;
  if (storage_new_with_options(o, &s) != STORAGE_OK || s == NULL) {
    fprintf(stderr, "storage_new_with_options failed: %s\n", last_error());
    abort();
  }
  return s;
}

static size_t len_of(storage_t *s) {
  size_t n = (size_t)-1;
  if (storage_len(s, &n) != STORAGE_OK) abort();
  return n;
}

static storage_stats_t stats_of(storage_t *s) {
  storage_stats_t st;
  if (storage_stats(s, &st) != STORAGE_OK) abort();
  return st;
}

/* JSON of the value under key, into a static buffer ("" when absent). */
static const char *get_json(storage_t *s, const char *key) {
  static char buf[4096];
  size_t len = 0;
  buf[0] = '\0';
  if (storage_get_json(s, key, strlen(key), buf, sizeof buf, &len) != STORAGE_OK) {
    buf[0] = '\0';
  }
  return buf;
}

/* Whether the first item of a page is `key` (keys start a page item). */
static int page_has_key(const uint8_t *page, size_t page_len, const char *key, int entries) {
  size_t offset = 0;
  const uint8_t *item = NULL;
  size_t item_len = 0;
  while (storage_page_next(page, page_len, &offset, &item, &item_len) == STORAGE_OK) {
    if (item_len == strlen(key) && memcmp(item, key, item_len) == 0) return 1;
    if (entries && storage_page_next(page, page_len, &offset, &item, &item_len) != STORAGE_OK) {
      return 0;
    }
  }
  return 0;
}

/* ------------------------------------------------------- versions, errors */

static void test_versions(void) {
  const char *version = storage_version();
  CHECK(storage_abi_version() == STORAGE_ABI_VERSION);
  REQUIRE(version != NULL);
  CHECK(strcmp(version, TOPGUN_EXPECTED_VERSION) == 0);
  CHECK(STORAGE_CURSOR_SIZE == 24);
}

static void test_status_strings(void) {
  int status;
  for (status = STORAGE_OK; status <= STORAGE_MISUSE; status++) {
    int other;
    const char *text = storage_status_str(status);
    REQUIRE(text != NULL);
    CHECK(strlen(text) > 0);
    CHECK(strcmp(text, "unknown status") != 0);
    for (other = STORAGE_OK; other < status; other++) {
      CHECK(strcmp(text, storage_status_str(other)) != 0);
    }
  }
  CHECK(strcmp(storage_status_str(STORAGE_OK), "ok") == 0);
  CHECK(strcmp(storage_status_str(STORAGE_NOT_FOUND), "not found") == 0);
  CHECK(strcmp(storage_status_str(STORAGE_PANIC), "internal error (panic)") == 0);
  CHECK(strcmp(storage_status_str(STORAGE_DATA_STORE), "data store error") == 0);
  CHECK(strcmp(storage_status_str(STORAGE_CLOSED), "store is closed") == 0);
  CHECK(strcmp(storage_status_str(STORAGE_DISK_FULL), "disk full") == 0);
  CHECK(strcmp(storage_status_str(22), "unknown status") == 0);
  CHECK(strcmp(storage_status_str(-1), "unknown status") == 0);
  CHECK(strcmp(storage_status_str(1 << 30), "unknown status") == 0);
  /* The numbers are part of the ABI. */
  CHECK(STORAGE_OK == 0 && STORAGE_NOT_FOUND == 1 && STORAGE_BUFFER_TOO_SMALL == 2);
  CHECK(STORAGE_NULL_POINTER == 3 && STORAGE_INVALID_UTF8 == 4 && STORAGE_MALFORMED_VALUE == 5);
  CHECK(STORAGE_VALUE_SHAPE == 6 && STORAGE_VALUE_RANGE == 7 && STORAGE_INVALID_CURSOR == 8);
  CHECK(STORAGE_INVALID_ARGUMENT == 9 && STORAGE_CAPACITY_EXCEEDED == 10);
  CHECK(STORAGE_ENTRY_TOO_LARGE == 11 && STORAGE_DATA_STORE == 12 && STORAGE_PANIC == 13);
  CHECK(STORAGE_CLOSED == 14 && STORAGE_IO == 15 && STORAGE_CORRUPT == 16);
  CHECK(STORAGE_LOCKED == 17 && STORAGE_UNAVAILABLE == 18 && STORAGE_DISK_FULL == 19);
  CHECK(STORAGE_REJECTED == 20 && STORAGE_MISUSE == 21);
}

static void test_last_error_message(void) {
  storage_t *s = new_store();
  char small[8];
  char *full;
  size_t needed = 0, len = 0;
  CHECK_STATUS(storage_get(s, NULL, 3, NULL, 0, &len), STORAGE_NULL_POINTER);
  /* Size query: NULL with capacity 0. */
  CHECK_STATUS(storage_last_error_message(NULL, 0, &needed), STORAGE_BUFFER_TOO_SMALL);
  CHECK(needed == strlen("`key` is NULL") + 1);
  /* A query does not overwrite the message, nor does a NULL out_len. */
  CHECK_STATUS(storage_last_error_message(NULL, 0, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_last_error_message(NULL, 5, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_last_error_message(small, sizeof small, &len), STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == needed);
  full = malloc(needed);
  REQUIRE(full != NULL);
  CHECK_STATUS(storage_last_error_message(full, needed, &len), STORAGE_OK);
  CHECK(len == needed - 1);
  CHECK(strcmp(full, "`key` is NULL") == 0);
  /* One byte short (no room for the NUL). */
  CHECK_STATUS(storage_last_error_message(full, needed - 1, &len), STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == needed);
  free(full);
  /* Successful calls keep it; NOT_FOUND is not an error. */
  CHECK_STATUS(storage_contains_key(s, KEY("absent")), STORAGE_NOT_FOUND);
  CHECK(strcmp(last_error(), "`key` is NULL") == 0);
  /* A new failure replaces it. */
  CHECK_STATUS(storage_len(s, NULL), STORAGE_NULL_POINTER);
  CHECK(strcmp(last_error(), "`out_len` is NULL") == 0);
  storage_free(s);
}

/* -------------------------------------------------------------- lifecycle */

static void test_new_and_free(void) {
  storage_t *s = NULL;
  CHECK_STATUS(storage_new(NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_new(&s), STORAGE_OK);
  CHECK(s != NULL);
  CHECK(len_of(s) == 0);
  storage_free(s);
  storage_free(NULL); /* NULL-safe */
}

static void test_options(void) {
  storage_options_t o;
  storage_t *s = (storage_t *)&o; /* must be overwritten with NULL on failure */
  struct {
    storage_options_t options;
    uint8_t future_fields[16];
  } bigger;

  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_OK);
  CHECK(s != NULL);
  storage_free(s);

  CHECK_STATUS(storage_new_with_options(NULL, &s), STORAGE_NULL_POINTER);
  CHECK(strstr(last_error(), "options") != NULL);
  CHECK_STATUS(storage_new_with_options(&o, NULL), STORAGE_NULL_POINTER);

  o.struct_size = 0;
  s = (storage_t *)&o;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
  CHECK(s == NULL);
  CHECK(strstr(last_error(), "struct_size") != NULL);
  o.struct_size = sizeof o - 8;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
  o.struct_size = 5000;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);

  /* A newer caller's larger struct: fine while the unknown fields are zero. */
  memset(&bigger, 0, sizeof bigger);
  bigger.options.struct_size = sizeof bigger;
  CHECK_STATUS(storage_new_with_options(&bigger.options, &s), STORAGE_OK);
  storage_free(s);
  bigger.future_fields[3] = 1;
  CHECK_STATUS(storage_new_with_options(&bigger.options, &s), STORAGE_INVALID_ARGUMENT);
  CHECK(s == NULL);

  memset(&o, 0, sizeof o);
  o.struct_size = sizeof o;
  o.eviction_policy = 4;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "eviction_policy") != NULL);
  o.eviction_policy = STORAGE_EVICTION_RANDOM;
  o.use_manual_clock = 2;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
  o.use_manual_clock = 0;
  o.manual_clock_start_ms = 5;
  CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "use_manual_clock") != NULL);

  /* Every field honoured: a TTL default, bounds, policy, samples, clock. */
  o = manual_options();
  o.default_ttl_ms = 1000;
  o.max_entries = 2;
  o.eviction_policy = STORAGE_EVICTION_LRU;
  o.eviction_sample_count = 1;
  s = new_with(&o);
  {
    int64_t now = 0;
    storage_metadata_t meta;
    uint8_t buf[256];
    size_t len = 0;
    CHECK_STATUS(storage_clock_now(s, &now), STORAGE_OK);
    CHECK(now == T0);
    CHECK_STATUS(put_lww(s, "a", "1", 0, 0), STORAGE_OK);
    CHECK_STATUS(storage_get_with_metadata(s, KEY("a"), buf, sizeof buf, &len, &meta), STORAGE_OK);
    CHECK(meta.expiration_time_ms == T0 + 1000);
    CHECK_STATUS(put_lww(s, "b", "2", 0, 0), STORAGE_OK);
    CHECK_STATUS(put_lww(s, "c", "3", 0, 0), STORAGE_OK);
    CHECK(len_of(s) == 2);
    CHECK(stats_of(s).evictions == 1);
  }
  storage_free(s);
}

static void test_clock(void) {
  storage_t *sys = new_store();
  storage_options_t o = manual_options();
  storage_t *s = new_with(&o);
  int64_t now = 0;

  CHECK_STATUS(storage_clock_now(sys, &now), STORAGE_OK);
  CHECK(now > 1577836800000LL); /* after 2020 */
  CHECK_STATUS(storage_clock_set(sys, 5), STORAGE_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "use_manual_clock") != NULL);
  CHECK_STATUS(storage_clock_advance(sys, 5, &now), STORAGE_INVALID_ARGUMENT);
  CHECK_STATUS(storage_clock_now(sys, NULL), STORAGE_NULL_POINTER);

  CHECK_STATUS(storage_clock_advance(s, 250, &now), STORAGE_OK);
  CHECK(now == T0 + 250);
  CHECK_STATUS(storage_clock_advance(s, -50, NULL), STORAGE_OK);
  CHECK_STATUS(storage_clock_now(s, &now), STORAGE_OK);
  CHECK(now == T0 + 200);
  CHECK_STATUS(storage_clock_set(s, 42), STORAGE_OK);
  CHECK_STATUS(storage_clock_now(s, &now), STORAGE_OK);
  CHECK(now == 42);
  CHECK_STATUS(storage_clock_advance(s, INT64_MAX, &now), STORAGE_OK);
  CHECK(now == INT64_MAX); /* saturates */
  storage_free(sys);
  storage_free(s);
}

/* ------------------------------------------------------------ put and get */

static void test_put_get_round_trip(void) {
  storage_t *s = new_store();
  uint8_t buf[256];
  uint8_t converted[256];
  size_t len = 0, clen = 0;

  /* The converter writes the same canonical bytes as the hand-made vector. */
  CHECK_STATUS(storage_value_json_to_msgpack(HELLO_JSON, strlen(HELLO_JSON), converted,
                                             sizeof converted, &clen), STORAGE_OK);
  CHECK(clen == HELLO_LEN && memcmp(converted, HELLO_MSGPACK, HELLO_LEN) == 0);

  CHECK_STATUS(storage_put(s, KEY("greeting"), (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0),
               STORAGE_OK);
  CHECK_STATUS(storage_get(s, KEY("greeting"), buf, sizeof buf, &len), STORAGE_OK);
  CHECK(len == HELLO_LEN && memcmp(buf, HELLO_MSGPACK, HELLO_LEN) == 0);

  /* The empty key and a key with an embedded NUL are keys like any other. */
  CHECK_STATUS(storage_put(s, "", 0, (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_contains_key(s, "", 0), STORAGE_OK);
  CHECK_STATUS(storage_put(s, "a\0b", 3, (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0),
               STORAGE_OK);
  CHECK_STATUS(storage_contains_key(s, "a", 1), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_contains_key(s, "a\0b", 3), STORAGE_OK);
  /* Non-ASCII UTF-8 key. */
  CHECK_STATUS(storage_put(s, KEY("cl\xc3\xa9"), (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0),
               STORAGE_OK);
  CHECK_STATUS(storage_get(s, KEY("cl\xc3\xa9"), buf, sizeof buf, &len), STORAGE_OK);
  CHECK(len_of(s) == 4);

  /* Overwrite. */
  CHECK_STATUS(put_lww(s, "greeting", "{\"n\":[1,2.5,null,true]}", 0, 0), STORAGE_OK);
  CHECK(strcmp(get_json(s, "greeting"),
               "{\"value\":{\"n\":[1,2.5,null,true]},\"timestamp\":{\"millis\":1,\"counter\":0,"
               "\"nodeId\":\"n1\"}}") == 0);
  CHECK(len_of(s) == 4);

  /* Absent: NOT_FOUND with out_len 0. */
  len = 99;
  CHECK_STATUS(storage_get(s, KEY("absent"), buf, sizeof buf, &len), STORAGE_NOT_FOUND);
  CHECK(len == 0);
  storage_free(s);
}

static void test_other_value_shapes(void) {
  storage_t *s = new_store();
  const char *or_map =
      "{\"type\":\"OR\",\"records\":[{\"value\":{\"$bytes\":\"00ff\"},\"timestamp\":{\"millis\":2,"
      "\"counter\":1,\"nodeId\":\"n2\"},\"tag\":\"t1\",\"ttlMs\":5000}]}";
  const char *tombstones = "{\"type\":\"OR_TOMBSTONES\",\"tags\":[\"t1\",\"t2\"]}";
  const char *lww_ttl =
      "{\"value\":null,\"timestamp\":{\"millis\":3,\"counter\":0,\"nodeId\":\"n3\"},\"ttlMs\":60000}";
  CHECK_STATUS(storage_put_json(s, KEY("or"), or_map, strlen(or_map), 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_put_json(s, KEY("tomb"), tombstones, strlen(tombstones), 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_put_json(s, KEY("lww"), lww_ttl, strlen(lww_ttl), 0, 0), STORAGE_OK);
  CHECK(strcmp(get_json(s, "or"), or_map) == 0);
  CHECK(strcmp(get_json(s, "tomb"), tombstones) == 0);
  CHECK(strcmp(get_json(s, "lww"), lww_ttl) == 0);
  storage_free(s);
}

static void test_get_size_negotiation(void) {
  storage_t *s = new_store();
  storage_stats_t before, after;
  storage_metadata_t meta;
  uint8_t *buf;
  size_t needed = 0, len = 0;
  CHECK_STATUS(storage_put(s, KEY("k"), (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0),
               STORAGE_OK);
  before = stats_of(s);
  /* Size query. */
  CHECK_STATUS(storage_get(s, KEY("k"), NULL, 0, &needed), STORAGE_BUFFER_TOO_SMALL);
  CHECK(needed == HELLO_LEN);
  CHECK(strstr(last_error(), "needed") != NULL);
  buf = malloc(needed);
  REQUIRE(buf != NULL);
  /* One byte short, then exact. */
  CHECK_STATUS(storage_get(s, KEY("k"), buf, needed - 1, &len), STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == needed);
  CHECK_STATUS(storage_get_with_metadata(s, KEY("k"), buf, needed - 1, &len, &meta),
               STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == needed);
  /* Too-small calls counted nothing. */
  after = stats_of(s);
  CHECK(after.hits == before.hits && after.misses == before.misses);
  CHECK_STATUS(storage_get_with_metadata(s, KEY("k"), buf, needed, &len, &meta), STORAGE_OK);
  CHECK(len == needed && memcmp(buf, HELLO_MSGPACK, HELLO_LEN) == 0);
  CHECK(meta.hits == 1);
  CHECK(stats_of(s).hits == before.hits + 1);
  free(buf);
  storage_free(s);
}

static void test_null_and_bad_arguments_to_reads(void) {
  storage_t *s = new_store();
  uint8_t buf[256];
  char text[256];
  storage_metadata_t meta;
  size_t len = 0;
  const char bad_utf8[] = "bad\xff\xfekey";
  CHECK_STATUS(put_lww(s, "k", "1", 0, 0), STORAGE_OK);

  CHECK_STATUS(storage_get(NULL, KEY("k"), buf, sizeof buf, &len), STORAGE_NULL_POINTER);
  CHECK(strcmp(last_error(), "`storage` is NULL") == 0);
  CHECK_STATUS(storage_get(s, NULL, 0, buf, sizeof buf, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get(s, KEY("k"), NULL, 16, &len), STORAGE_NULL_POINTER);
  CHECK(strcmp(last_error(), "`buf` is NULL") == 0);
  CHECK_STATUS(storage_get(s, KEY("k"), buf, sizeof buf, NULL), STORAGE_NULL_POINTER);
  CHECK(strcmp(last_error(), "`out_len` is NULL") == 0);
  CHECK_STATUS(storage_get(s, bad_utf8, strlen(bad_utf8), buf, sizeof buf, &len),
               STORAGE_INVALID_UTF8);
  CHECK(strstr(last_error(), "offset 3") != NULL);
  /* Output overlapping the key. */
  memcpy(buf, "k", 1);
  CHECK_STATUS(storage_get(s, (const char *)buf, 1, buf, sizeof buf, &len),
               STORAGE_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "overlaps") != NULL);

  CHECK_STATUS(storage_get_with_metadata(s, KEY("k"), buf, sizeof buf, &len, NULL),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get_with_metadata(NULL, KEY("k"), buf, sizeof buf, &len, &meta),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get_with_metadata(s, bad_utf8, 5, buf, sizeof buf, &len, &meta),
               STORAGE_INVALID_UTF8);
  CHECK_STATUS(storage_get_with_metadata(s, KEY("absent"), buf, sizeof buf, &len, &meta),
               STORAGE_NOT_FOUND);

  CHECK_STATUS(storage_get_json(NULL, KEY("k"), text, sizeof text, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get_json(s, NULL, 1, text, sizeof text, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get_json(s, KEY("k"), text, sizeof text, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get_json(s, KEY("k"), NULL, 3, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_get_json(s, bad_utf8, 5, text, sizeof text, &len), STORAGE_INVALID_UTF8);
  CHECK_STATUS(storage_get_json(s, KEY("absent"), text, sizeof text, &len), STORAGE_NOT_FOUND);

  CHECK_STATUS(storage_contains_key(NULL, KEY("k")), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_contains_key(s, NULL, 0), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_contains_key(s, bad_utf8, 5), STORAGE_INVALID_UTF8);
  CHECK_STATUS(storage_remove(NULL, KEY("k")), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_remove(s, NULL, 1), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_remove(s, bad_utf8, 5), STORAGE_INVALID_UTF8);
  CHECK(len_of(s) == 1);
  storage_free(s);
}

static void test_put_rejects_bad_input_and_changes_nothing(void) {
  storage_t *s = new_store();
  uint8_t buf[256];
  size_t len = 0;
  storage_stats_t before;
  const char bad_utf8[] = "k\xc3";
  /* Not MessagePack: the reserved byte 0xc1, a truncated value, trailing bytes. */
  const uint8_t reserved[] = {0xc1};
  uint8_t trailing[HELLO_LEN + 1];
  /* Valid MessagePack, wrong shape: an empty map, a bare string. */
  const uint8_t empty_map[] = {0x80};
  const uint8_t bare_string[] = {0xa1, 'x'};
  /* {"value": 2^64-1, "timestamp": {...}}: uint64 above i64::MAX in a user value. */
  uint8_t huge[64];
  size_t huge_len = 0;
  const char *range_json =
      "{\"value\":1,\"timestamp\":{\"millis\":-1,\"counter\":0,\"nodeId\":\"n\"}}";
  const char *shape_json = "{\"value\":1}";
  const char *bad_json = "{\"value\":";
  const char not_utf8_json[] = "{\"value\":\"\xff\"}";

  CHECK_STATUS(storage_put(s, KEY("k"), (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0),
               STORAGE_OK);
  before = stats_of(s);

  memcpy(trailing, HELLO_MSGPACK, HELLO_LEN);
  trailing[HELLO_LEN] = 0xc0; /* a complete record, then one more value */
  huge[huge_len++] = 0x82;
  huge[huge_len++] = 0xa5;
  memcpy(huge + huge_len, "value", 5);
  huge_len += 5;
  huge[huge_len++] = 0xcf;
  memset(huge + huge_len, 0xff, 8);
  huge_len += 8;
  memcpy(huge + huge_len, HELLO_MSGPACK + 13, HELLO_LEN - 13); /* "timestamp": {...} */
  huge_len += HELLO_LEN - 13;

  CHECK_STATUS(storage_put(NULL, KEY("k"), reserved, 1, 0, 0), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_put(s, NULL, 1, reserved, 1, 0, 0), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_put(s, KEY("k"), NULL, 0, 0, 0), STORAGE_NULL_POINTER);
  CHECK(strcmp(last_error(), "`value` is NULL") == 0);
  CHECK_STATUS(storage_put(s, bad_utf8, 2, (const uint8_t *)HELLO_MSGPACK, HELLO_LEN, 0, 0),
               STORAGE_INVALID_UTF8);
  CHECK_STATUS(storage_put(s, KEY("k"), reserved, sizeof reserved, 0, 0), STORAGE_MALFORMED_VALUE);
  CHECK_STATUS(storage_put(s, KEY("k"), (const uint8_t *)HELLO_MSGPACK, HELLO_LEN - 3, 0, 0),
               STORAGE_MALFORMED_VALUE);
  CHECK_STATUS(storage_put(s, KEY("k"), trailing, sizeof trailing, 0, 0), STORAGE_MALFORMED_VALUE);
  CHECK(strstr(last_error(), "trailing") != NULL);
  CHECK_STATUS(storage_put(s, KEY("k"), trailing, 0, 0, 0), STORAGE_MALFORMED_VALUE);
  CHECK_STATUS(storage_put(s, KEY("k"), empty_map, sizeof empty_map, 0, 0), STORAGE_VALUE_SHAPE);
  CHECK(strstr(last_error(), "missing field") != NULL);
  CHECK_STATUS(storage_put(s, KEY("k"), bare_string, sizeof bare_string, 0, 0),
               STORAGE_VALUE_SHAPE);
  CHECK_STATUS(storage_put(s, KEY("k"), huge, huge_len, 0, 0), STORAGE_VALUE_RANGE);
  CHECK(strstr(last_error(), "$.value") != NULL);

  CHECK_STATUS(storage_put_json(NULL, KEY("k"), KEY(range_json), 0, 0), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_put_json(s, KEY("k"), NULL, 3, 0, 0), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_put_json(s, NULL, 0, KEY(range_json), 0, 0), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_put_json(s, bad_utf8, 2, KEY(range_json), 0, 0), STORAGE_INVALID_UTF8);
  CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(range_json), 0, 0), STORAGE_VALUE_RANGE);
  CHECK(strstr(last_error(), "$.timestamp.millis") != NULL);
  CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(shape_json), 0, 0), STORAGE_VALUE_SHAPE);
  CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(bad_json), 0, 0), STORAGE_MALFORMED_VALUE);
  CHECK_STATUS(storage_put_json(s, KEY("k"), not_utf8_json, strlen(not_utf8_json), 0, 0),
               STORAGE_MALFORMED_VALUE);
  CHECK(strstr(last_error(), "UTF-8") != NULL);

  /* Nothing changed: same value, same counters. */
  CHECK_STATUS(storage_get(s, KEY("k"), buf, sizeof buf, &len), STORAGE_OK);
  CHECK(len == HELLO_LEN && memcmp(buf, HELLO_MSGPACK, HELLO_LEN) == 0);
  CHECK(len_of(s) == 1);
  CHECK(stats_of(s).puts == before.puts && stats_of(s).updates == before.updates);
  storage_free(s);
}

static void test_json_get_and_conversions(void) {
  storage_t *s = new_store();
  char text[512];
  uint8_t bytes[256];
  size_t len = 0, needed = 0;
  /* {"value": NaN, ...}: MessagePack can hold it, JSON cannot. */
  uint8_t nan_value[64];
  size_t nan_len = 0;
  nan_value[nan_len++] = 0x82;
  nan_value[nan_len++] = 0xa5;
  memcpy(nan_value + nan_len, "value", 5);
  nan_len += 5;
  nan_value[nan_len++] = 0xcb;
  memcpy(nan_value + nan_len, "\x7f\xf8\x00\x00\x00\x00\x00\x00", 8);
  nan_len += 8;
  memcpy(nan_value + nan_len, HELLO_MSGPACK + 13, HELLO_LEN - 13);
  nan_len += HELLO_LEN - 13;

  CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(HELLO_JSON), 0, 0), STORAGE_OK);
  /* get_json: out_len is strlen on OK, the capacity needed (NUL included) otherwise. */
  CHECK_STATUS(storage_get_json(s, KEY("k"), NULL, 0, &needed), STORAGE_BUFFER_TOO_SMALL);
  CHECK(needed == strlen(HELLO_JSON) + 1);
  CHECK_STATUS(storage_get_json(s, KEY("k"), text, needed - 1, &len), STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == needed);
  CHECK_STATUS(storage_get_json(s, KEY("k"), text, needed, &len), STORAGE_OK);
  CHECK(len == strlen(HELLO_JSON) && strcmp(text, HELLO_JSON) == 0);

  CHECK_STATUS(storage_put(s, KEY("nan"), nan_value, nan_len, 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_get_json(s, KEY("nan"), text, sizeof text, &len), STORAGE_VALUE_RANGE);
  CHECK(strstr(last_error(), "NaN") != NULL);
  CHECK_STATUS(storage_get(s, KEY("nan"), bytes, sizeof bytes, &len), STORAGE_OK);
  CHECK(len == nan_len && memcmp(bytes, nan_value, nan_len) == 0);
  CHECK_STATUS(storage_value_msgpack_to_json(nan_value, nan_len, text, sizeof text, &len),
               STORAGE_VALUE_RANGE);

  /* msgpack -> JSON */
  CHECK_STATUS(storage_value_msgpack_to_json((const uint8_t *)HELLO_MSGPACK, HELLO_LEN, NULL, 0,
                                             &needed), STORAGE_BUFFER_TOO_SMALL);
  CHECK(needed == strlen(HELLO_JSON) + 1);
  CHECK_STATUS(storage_value_msgpack_to_json((const uint8_t *)HELLO_MSGPACK, HELLO_LEN, text,
                                             needed, &len), STORAGE_OK);
  CHECK(strcmp(text, HELLO_JSON) == 0 && len == strlen(HELLO_JSON));
  CHECK_STATUS(storage_value_msgpack_to_json(NULL, 1, text, sizeof text, &len),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_value_msgpack_to_json((const uint8_t *)HELLO_MSGPACK, HELLO_LEN, text,
                                             sizeof text, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_value_msgpack_to_json((const uint8_t *)HELLO_MSGPACK, HELLO_LEN, NULL, 9,
                                             &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_value_msgpack_to_json((const uint8_t *)"\xc1", 1, text, sizeof text, &len),
               STORAGE_MALFORMED_VALUE);
  CHECK_STATUS(storage_value_msgpack_to_json((const uint8_t *)"\x80", 1, text, sizeof text, &len),
               STORAGE_VALUE_SHAPE);

  /* JSON -> msgpack */
  CHECK_STATUS(storage_value_json_to_msgpack(KEY(HELLO_JSON), NULL, 0, &needed),
               STORAGE_BUFFER_TOO_SMALL);
  CHECK(needed == HELLO_LEN);
  CHECK_STATUS(storage_value_json_to_msgpack(KEY(HELLO_JSON), bytes, needed - 1, &len),
               STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == needed);
  CHECK_STATUS(storage_value_json_to_msgpack(KEY(HELLO_JSON), bytes, needed, &len), STORAGE_OK);
  CHECK(len == HELLO_LEN && memcmp(bytes, HELLO_MSGPACK, HELLO_LEN) == 0);
  CHECK_STATUS(storage_value_json_to_msgpack(NULL, 2, bytes, sizeof bytes, &len),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_value_json_to_msgpack(KEY(HELLO_JSON), bytes, sizeof bytes, NULL),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_value_json_to_msgpack(KEY("[1,"), bytes, sizeof bytes, &len),
               STORAGE_MALFORMED_VALUE);
  CHECK_STATUS(storage_value_json_to_msgpack(KEY("{\"type\":\"NOPE\"}"), bytes, sizeof bytes, &len),
               STORAGE_VALUE_SHAPE);
  CHECK_STATUS(storage_value_json_to_msgpack(
                   KEY("{\"value\":1,\"timestamp\":{\"millis\":1,\"counter\":5000000000,"
                       "\"nodeId\":\"n\"}}"), bytes, sizeof bytes, &len),
               STORAGE_VALUE_RANGE);
  /* Output overlapping the input. */
  memcpy(text, HELLO_JSON, strlen(HELLO_JSON));
  CHECK_STATUS(storage_value_json_to_msgpack(text, strlen(HELLO_JSON), (uint8_t *)text + 4,
                                             100, &len), STORAGE_INVALID_ARGUMENT);
  storage_free(s);
}

static void test_metadata(void) {
  storage_options_t o = manual_options();
  storage_t *s;
  storage_metadata_t meta;
  uint8_t buf[256];
  size_t len = 0;
  o.default_max_idle_ms = 10000;
  s = new_with(&o);
  CHECK_STATUS(put_lww(s, "k", "1", 500, 0), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 100, NULL), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "k", "2", 500, 0), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 50, NULL), STORAGE_OK);
  memset(&meta, 0xab, sizeof meta);
  CHECK_STATUS(storage_get_with_metadata(s, KEY("k"), buf, sizeof buf, &len, &meta), STORAGE_OK);
  CHECK(meta.version == 2);
  CHECK(meta.hits == 1);
  CHECK(meta.creation_time_ms == T0);
  CHECK(meta.last_update_time_ms == T0 + 100);
  CHECK(meta.last_access_time_ms == T0 + 150);
  CHECK(meta.last_stored_time_ms == 0);
  CHECK(meta.ttl_ms == 500);
  CHECK(meta.max_idle_ms == 0);
  CHECK(meta.expiration_time_ms == T0 + 600); /* own TTL from the last write */
  CHECK(meta.cost == 1 + len);                /* key bytes + MessagePack bytes */
  {
    uint64_t cost = 0;
    CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
    CHECK(cost == meta.cost);
  }
  storage_free(s);
}

static void test_remove_contains_len_cost_clear(void) {
  storage_t *s = new_store();
  size_t n = 0;
  uint64_t cost = 1;
  CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
  CHECK(cost == 0);
  CHECK_STATUS(put_lww(s, "a", "1", 0, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "b", "\"two\"", 0, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "c", "3", 0, 0), STORAGE_OK);
  CHECK(len_of(s) == 3);
  CHECK_STATUS(storage_contains_key(s, KEY("b")), STORAGE_OK);
  CHECK(stats_of(s).hits == 0); /* contains is not a read */
  CHECK_STATUS(storage_remove(s, KEY("b")), STORAGE_OK);
  CHECK_STATUS(storage_remove(s, KEY("b")), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_contains_key(s, KEY("b")), STORAGE_NOT_FOUND);
  CHECK(len_of(s) == 2);
  CHECK(stats_of(s).removes == 1);
  CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
  CHECK(cost > 0);
  CHECK_STATUS(storage_clear(s, &n), STORAGE_OK);
  CHECK(n == 2);
  CHECK(len_of(s) == 0);
  CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
  CHECK(cost == 0);
  CHECK_STATUS(storage_clear(s, NULL), STORAGE_OK);

  CHECK_STATUS(storage_len(NULL, &n), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_len(s, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_estimated_cost(NULL, &cost), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_estimated_cost(s, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_clear(NULL, &n), STORAGE_NULL_POINTER);
  storage_free(s);
}

/* ------------------------------------------------- expiry and eviction */

static void test_expiry(void) {
  storage_options_t o = manual_options();
  storage_t *s;
  uint8_t buf[256];
  size_t len = 0;
  storage_maintenance_t report;
  o.default_ttl_ms = 1000;
  s = new_with(&o);
  CHECK_STATUS(put_lww(s, "default", "1", 0, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "own-ttl", "1", 100, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "idle", "1", 5000, 200), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 100, NULL), STORAGE_OK);
  CHECK_STATUS(storage_get(s, KEY("own-ttl"), buf, sizeof buf, &len), STORAGE_OK); /* 100: live */
  CHECK_STATUS(storage_clock_advance(s, 1, NULL), STORAGE_OK);
  CHECK_STATUS(storage_get(s, KEY("own-ttl"), buf, sizeof buf, &len), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_contains_key(s, KEY("own-ttl")), STORAGE_NOT_FOUND);
  CHECK(stats_of(s).expirations == 1);
  /* Reads refresh max idle: read at 150 and 300, still live at 450. */
  CHECK_STATUS(storage_clock_set(s, T0 + 150), STORAGE_OK);
  CHECK_STATUS(storage_get(s, KEY("idle"), buf, sizeof buf, &len), STORAGE_OK);
  CHECK_STATUS(storage_clock_set(s, T0 + 300), STORAGE_OK);
  CHECK_STATUS(storage_get_json(s, KEY("idle"), (char *)buf, sizeof buf, &len), STORAGE_OK);
  CHECK_STATUS(storage_clock_set(s, T0 + 450), STORAGE_OK);
  CHECK_STATUS(storage_contains_key(s, KEY("idle")), STORAGE_OK);
  CHECK_STATUS(storage_clock_set(s, T0 + 501), STORAGE_OK);
  CHECK_STATUS(storage_contains_key(s, KEY("idle")), STORAGE_NOT_FOUND);
  /* The store default applies to "default"; maintain removes what expired. */
  CHECK_STATUS(storage_clock_set(s, T0 + 1001), STORAGE_OK);
  CHECK(len_of(s) == 2); /* expired but not yet removed */
  memset(&report, 0, sizeof report);
  CHECK_STATUS(storage_maintain(s, &report), STORAGE_OK);
  CHECK(report.expired == 2);
  CHECK(report.scanned >= 2);
  CHECK(report.evicted == 0);
  CHECK(len_of(s) == 0);
  CHECK(stats_of(s).expirations == 3);
  CHECK_STATUS(storage_maintain(s, NULL), STORAGE_OK);
  CHECK_STATUS(storage_maintain(NULL, &report), STORAGE_NULL_POINTER);
  storage_free(s);
}

static void test_bounds_and_eviction(void) {
  storage_options_t o = manual_options();
  storage_t *s;
  uint8_t buf[256];
  size_t len = 0;
  int i;
  char key[32];

  /* Eviction off: the write past the bound fails and changes nothing. */
  o.max_entries = 3;
  s = new_with(&o);
  for (i = 0; i < 3; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_STATUS(put_lww(s, key, "1", 0, 0), STORAGE_OK);
  }
  CHECK_STATUS(put_lww(s, "k3", "1", 0, 0), STORAGE_CAPACITY_EXCEEDED);
  CHECK(strstr(last_error(), "entry count") != NULL);
  CHECK(len_of(s) == 3);
  CHECK_STATUS(storage_contains_key(s, KEY("k3")), STORAGE_NOT_FOUND);
  CHECK_STATUS(put_lww(s, "k1", "2", 0, 0), STORAGE_OK); /* overwrites still fit */
  storage_free(s);

  /* LRU: the least recently read goes. */
  o = manual_options();
  o.max_entries = 3;
  o.eviction_policy = STORAGE_EVICTION_LRU;
  s = new_with(&o);
  for (i = 0; i < 3; i++) {
    snprintf(key, sizeof key, "k%d", i);
    CHECK_STATUS(put_lww(s, key, "1", 0, 0), STORAGE_OK);
    CHECK_STATUS(storage_clock_advance(s, 10, NULL), STORAGE_OK);
  }
  CHECK_STATUS(storage_get(s, KEY("k0"), buf, sizeof buf, &len), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 10, NULL), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "k3", "1", 0, 0), STORAGE_OK);
  CHECK(len_of(s) == 3);
  CHECK_STATUS(storage_contains_key(s, KEY("k1")), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_contains_key(s, KEY("k0")), STORAGE_OK);
  CHECK(stats_of(s).evictions == 1);
  storage_free(s);

  /* Cost bound: one entry larger than the whole bound. */
  o = manual_options();
  o.max_cost = 40;
  s = new_with(&o);
  CHECK_STATUS(put_lww(s, "big", "\"0123456789012345678901234567890123456789\"", 0, 0),
               STORAGE_ENTRY_TOO_LARGE);
  CHECK(len_of(s) == 0);
  storage_free(s);

  /* LFU and RANDOM keep the bound too. */
  for (i = STORAGE_EVICTION_LFU; i <= STORAGE_EVICTION_RANDOM; i++) {
    int j;
    o = manual_options();
    o.max_entries = 5;
    o.eviction_policy = (uint32_t)i;
    s = new_with(&o);
    for (j = 0; j < 50; j++) {
      snprintf(key, sizeof key, "k%d", j);
      CHECK_STATUS(put_lww(s, key, "1", 0, 0), STORAGE_OK);
      CHECK(len_of(s) <= 5);
    }
    CHECK(stats_of(s).evictions == 45);
    storage_free(s);
  }
}

/* A put of one large value evicts every small entry it needs before it
 * returns (issue 10, item 1): before, a put evicted at most 64 entries and
 * the store sat at ~186% of max_cost until 25 storage_maintain() passes. */
static void test_large_put_keeps_the_cost_bound(void) {
  static const uint32_t policies[] = {STORAGE_EVICTION_LRU, STORAGE_EVICTION_LFU,
                                      STORAGE_EVICTION_RANDOM};
  const size_t big = 90000;
  char *json = malloc(big + 128);
  uint8_t *value = malloc(big + 128);
  size_t p, json_len, value_len = 0;
  REQUIRE(json != NULL && value != NULL);
  json_len = (size_t)sprintf(json, "{\"value\":\"");
  memset(json + json_len, 'x', big);
  json_len += big;
  json_len += (size_t)sprintf(json + json_len,
                              "\",\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n\"}}");
  REQUIRE(storage_value_json_to_msgpack(json, json_len, value, big + 128, &value_len) ==
          STORAGE_OK);
  for (p = 0; p < sizeof policies / sizeof policies[0]; p++) {
    storage_options_t o = manual_options();
    storage_t *s;
    uint64_t cost = 0;
    char key[32];
    int i;
    o.max_cost = 100000;
    o.eviction_policy = policies[p];
    s = new_with(&o);
    for (i = 0; i < 3000; i++) {
      snprintf(key, sizeof key, "small-%d", i);
      CHECK_STATUS(put_lww(s, key, "\"0123456789\"", 0, 0), STORAGE_OK);
    }
    CHECK_STATUS(storage_put(s, KEY("large"), value, value_len, 0, 0), STORAGE_OK);
    CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
    if (cost > 100000) fprintf(stderr, "  policy %u: cost %llu\n", policies[p], (unsigned long long)cost);
    CHECK(cost <= 100000);
    CHECK_STATUS(storage_contains_key(s, KEY("large")), STORAGE_OK);
    storage_free(s);
  }
  free(json);
  free(value);
}

/* ------------------------------------------------------------ iteration */

static storage_t *store_with_keys(int n) {
  storage_t *s = new_store();
  char key[32];
  int i;
  for (i = 0; i < n; i++) {
    snprintf(key, sizeof key, "key-%04d", i);
    if (put_lww(s, key, "1", 0, 0) != STORAGE_OK) abort();
  }
  return s;
}

/* Scans with pages of max_items and a buffer of `capacity`; counts how often
 * each key-NNNN was returned. Returns the number of calls, or -1 on error. */
static int scan(storage_t *s, int entries, size_t max_items, size_t capacity, int *seen, int n) {
  uint8_t cursor[STORAGE_CURSOR_SIZE];
  uint8_t *buf = malloc(capacity);
  bool finished = false;
  int calls = 0;
  memset(cursor, 0, sizeof cursor);
  if (buf == NULL) return -1;
  while (!finished) {
    size_t len = 0, count = 0, offset = 0, got = 0, item_len = 0;
    const uint8_t *item = NULL;
    storage_status_t st =
        entries ? storage_fetch_entries(s, cursor, max_items, buf, capacity, &len, &count, &finished)
                : storage_fetch_keys(s, cursor, max_items, buf, capacity, &len, &count, &finished);
    calls++;
    if (st != STORAGE_OK || count > max_items || len > capacity || calls > 100000) {
      free(buf);
      return -1;
    }
    while (storage_page_next(buf, len, &offset, &item, &item_len) == STORAGE_OK) {
      int index;
      char key[32];
      if (item_len != 8 || memcmp(item, "key-", 4) != 0) break;
      memcpy(key, item, item_len);
      key[item_len] = '\0';
      index = atoi(key + 4);
      if (index >= 0 && index < n) seen[index]++;
      got++;
      if (entries) {
        char json[256];
        size_t json_len = 0;
        if (storage_page_next(buf, len, &offset, &item, &item_len) != STORAGE_OK ||
            storage_value_msgpack_to_json(item, item_len, json, sizeof json, &json_len) != STORAGE_OK ||
            strstr(json, "\"value\":1,") == NULL) {
          free(buf);
          return -1;
        }
      }
    }
    if (got != count || offset != len) {
      free(buf);
      return -1;
    }
  }
  free(buf);
  return calls;
}

static void test_fetch_pages_cover_every_key_once(void) {
  enum { N = 100 };
  storage_t *s = store_with_keys(N);
  int seen[N];
  int i, calls, pass;
  for (pass = 0; pass < 4; pass++) {
    int entries = pass & 1;
    /* pass 0/1: pages of 7 in a roomy buffer; 2/3: a buffer for ~2 items. */
    size_t capacity = pass < 2 ? 4096 : (entries ? 2 * (4 + 8 + 4 + 60) : 2 * 12 + 5);
    memset(seen, 0, sizeof seen);
    calls = scan(s, entries, 7, capacity, seen, N);
    CHECK(calls > 0);
    for (i = 0; i < N; i++) CHECK(seen[i] == 1);
    if (pass >= 2) CHECK(calls >= N / 2);
  }
  storage_free(s);
}

static void test_fetch_edge_cases(void) {
  storage_t *s = store_with_keys(3);
  storage_t *empty = new_store();
  uint8_t cursor[STORAGE_CURSOR_SIZE], saved[STORAGE_CURSOR_SIZE];
  uint8_t buf[512];
  size_t len = 0, count = 0;
  bool finished = true;
  int i;

  /* Empty store: one empty, finished page. */
  memset(cursor, 0, sizeof cursor);
  CHECK_STATUS(storage_fetch_keys(empty, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_OK);
  CHECK(count == 0 && len == 0 && finished);

  /* Size query: the first key's size, cursor unchanged. */
  memset(cursor, 0, sizeof cursor);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 10, NULL, 0, &len, &count, &finished),
               STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == STORAGE_ITEM_PREFIX_SIZE + 8);
  CHECK(count == 0 && !finished);
  for (i = 0; i < STORAGE_CURSOR_SIZE; i++) CHECK(cursor[i] == 0);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 10, buf, 11, &len, &count, &finished),
               STORAGE_BUFFER_TOO_SMALL);
  CHECK(len == 12);
  CHECK_STATUS(storage_fetch_entries(s, cursor, 10, NULL, 0, &len, &count, &finished),
               STORAGE_BUFFER_TOO_SMALL);
  CHECK(len > 12 + 4);
  CHECK_STATUS(storage_fetch_entries(s, cursor, 10, buf, len - 1, &len, &count, &finished),
               STORAGE_BUFFER_TOO_SMALL);
  /* Exactly one key fits: one key, not finished. */
  CHECK_STATUS(storage_fetch_keys(s, cursor, 10, buf, 12, &len, &count, &finished), STORAGE_OK);
  CHECK(count == 1 && len == 12 && !finished);
  memcpy(saved, cursor, sizeof cursor);

  /* Argument errors change nothing. */
  CHECK_STATUS(storage_fetch_keys(s, cursor, 0, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_ARGUMENT);
  CHECK(strstr(last_error(), "page size") != NULL);
  CHECK(memcmp(cursor, saved, sizeof cursor) == 0);
  CHECK_STATUS(storage_fetch_keys(NULL, cursor, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_keys(s, NULL, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, NULL, 10, &len, &count, &finished),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, NULL, &count, &finished),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, &len, NULL, &finished),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, &len, &count, NULL),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_entries(s, cursor, 1, buf, sizeof buf, &len, &count, NULL),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_fetch_entries(NULL, cursor, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_NULL_POINTER);
  /* The cursor inside the output buffer. */
  memcpy(buf, cursor, sizeof cursor);
  CHECK_STATUS(storage_fetch_keys(s, buf, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_ARGUMENT);
  CHECK(memcmp(cursor, saved, sizeof cursor) == 0);

  /* Malformed: random bytes. */
  for (i = 0; i < STORAGE_CURSOR_SIZE; i++) cursor[i] = (uint8_t)(i * 37 + 11);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  CHECK(strstr(last_error(), "cursor") != NULL);
  CHECK_STATUS(storage_fetch_entries(s, cursor, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  /* Truncated: only the first half copied, the rest zero. */
  memset(cursor, 0, sizeof cursor);
  memcpy(cursor, saved, STORAGE_CURSOR_SIZE / 2);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  /* Corrupted: every single bit flip is refused. */
  for (i = 0; i < STORAGE_CURSOR_SIZE * 8; i++) {
    memcpy(cursor, saved, sizeof cursor);
    cursor[i / 8] ^= (uint8_t)(1u << (i % 8));
    CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, &len, &count, &finished),
                 STORAGE_INVALID_CURSOR);
  }
  /* The saved cursor still resumes; run to the end; a finished cursor
   * stays finished. */
  memcpy(cursor, saved, sizeof cursor);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_OK);
  CHECK(count == 2 && finished);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_OK);
  CHECK(count == 0 && len == 0 && finished);
  storage_free(s);
  storage_free(empty);
}

static void test_fetch_skips_expired(void) {
  storage_options_t o = manual_options();
  storage_t *s;
  uint8_t cursor[STORAGE_CURSOR_SIZE];
  uint8_t buf[1024];
  size_t len = 0, count = 0;
  bool finished = false;
  s = new_with(&o);
  CHECK_STATUS(put_lww(s, "short", "1", 10, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "long", "1", 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 11, NULL), STORAGE_OK);
  memset(cursor, 0, sizeof cursor);
  CHECK_STATUS(storage_fetch_entries(s, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_OK);
  CHECK(count == 1 && finished);
  CHECK(page_has_key(buf, len, "long", 1));
  CHECK(!page_has_key(buf, len, "short", 1));
  storage_free(s);
}

static void test_page_next(void) {
  const uint8_t page[] = {2, 0, 0, 0, 'a', 'b', 0, 0, 0, 0, 5, 0, 0, 0, 'x'};
  const uint8_t *item = NULL;
  size_t offset = 0, len = 0;
  CHECK_STATUS(storage_page_next(page, 10, &offset, &item, &len), STORAGE_OK);
  CHECK(len == 2 && item == page + 4 && offset == 6);
  CHECK_STATUS(storage_page_next(page, 10, &offset, &item, &len), STORAGE_OK);
  CHECK(len == 0 && offset == 10);
  CHECK_STATUS(storage_page_next(page, 10, &offset, &item, &len), STORAGE_NOT_FOUND);
  /* An item claiming 5 bytes with 1 left: truncated. */
  CHECK_STATUS(storage_page_next(page, sizeof page, &offset, &item, &len), STORAGE_MALFORMED_VALUE);
  CHECK(offset == 10);
  /* A prefix cut short. */
  offset = 0;
  CHECK_STATUS(storage_page_next(page, 3, &offset, &item, &len), STORAGE_MALFORMED_VALUE);
  offset = 11;
  CHECK_STATUS(storage_page_next(page, 10, &offset, &item, &len), STORAGE_INVALID_ARGUMENT);
  offset = 0;
  CHECK_STATUS(storage_page_next(NULL, 0, &offset, &item, &len), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_page_next(NULL, 4, &offset, &item, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_page_next(page, 10, NULL, &item, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_page_next(page, 10, &offset, NULL, &len), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_page_next(page, 10, &offset, &item, NULL), STORAGE_NULL_POINTER);
}

static void test_random_samples(void) {
  enum { N = 100 };
  storage_t *s = store_with_keys(N);
  storage_t *empty = new_store();
  uint8_t buf[8192];
  size_t len = 0, count = 0, needed = 0;
  int seen[N];
  int i, total = 0;

  CHECK_STATUS(storage_random_samples(s, 10, buf, sizeof buf, &len, &count), STORAGE_OK);
  CHECK(count == 10);
  {
    /* Ten distinct live entries. */
    size_t offset = 0, item_len = 0;
    const uint8_t *item = NULL;
    memset(seen, 0, sizeof seen);
    while (storage_page_next(buf, len, &offset, &item, &item_len) == STORAGE_OK) {
      char key[16];
      REQUIRE(item_len == 8);
      memcpy(key, item, 8);
      key[8] = '\0';
      seen[atoi(key + 4)]++;
      REQUIRE(storage_page_next(buf, len, &offset, &item, &item_len) == STORAGE_OK);
    }
    for (i = 0; i < N; i++) {
      CHECK(seen[i] <= 1);
      total += seen[i];
    }
    CHECK(total == 10);
  }
  CHECK_STATUS(storage_random_samples(s, 1000, buf, sizeof buf, &len, &count), STORAGE_OK);
  CHECK(count == N);
  CHECK_STATUS(storage_random_samples(s, 0, buf, sizeof buf, &len, &count), STORAGE_OK);
  CHECK(count == 0 && len == 0);
  CHECK_STATUS(storage_random_samples(empty, 5, NULL, 0, &len, &count), STORAGE_OK);
  CHECK(count == 0);
  /* Size query and a buffer that holds only some of the samples. */
  CHECK_STATUS(storage_random_samples(s, 5, NULL, 0, &needed, &count), STORAGE_BUFFER_TOO_SMALL);
  CHECK(count == 0 && needed > 5 * 12);
  CHECK_STATUS(storage_random_samples(s, 5, buf, needed / 2, &len, &count), STORAGE_OK);
  CHECK(count >= 1 && count < 5 && len <= needed / 2);
  CHECK_STATUS(storage_random_samples(NULL, 5, buf, sizeof buf, &len, &count),
               STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_random_samples(s, 5, buf, sizeof buf, NULL, &count), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_random_samples(s, 5, buf, sizeof buf, &len, NULL), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_random_samples(s, 5, NULL, 10, &len, &count), STORAGE_NULL_POINTER);
  storage_free(s);
  storage_free(empty);
}

static void test_stats(void) {
  storage_options_t o = manual_options();
  storage_t *s;
  storage_stats_t st;
  uint8_t buf[256];
  size_t len = 0;
  uint64_t cost = 0;
  o.max_entries = 2;
  o.eviction_policy = STORAGE_EVICTION_LRU;
  s = new_with(&o);
  CHECK_STATUS(put_lww(s, "a", "1", 0, 0), STORAGE_OK);         /* put */
  CHECK_STATUS(put_lww(s, "a", "2", 0, 0), STORAGE_OK);         /* update */
  CHECK_STATUS(put_lww(s, "b", "1", 5, 0), STORAGE_OK);         /* put */
  CHECK_STATUS(storage_get(s, KEY("a"), buf, sizeof buf, &len), STORAGE_OK);   /* hit */
  CHECK_STATUS(storage_get(s, KEY("zz"), buf, sizeof buf, &len), STORAGE_NOT_FOUND); /* miss */
  CHECK_STATUS(storage_clock_advance(s, 10, NULL), STORAGE_OK);
  CHECK_STATUS(storage_get(s, KEY("b"), buf, sizeof buf, &len), STORAGE_NOT_FOUND); /* expired */
  CHECK_STATUS(put_lww(s, "c", "1", 0, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "d", "1", 0, 0), STORAGE_OK);         /* evicts one */
  CHECK_STATUS(storage_remove(s, KEY("d")), STORAGE_OK);
  CHECK_STATUS(storage_stats(s, &st), STORAGE_OK);
  CHECK(st.puts == 4);
  CHECK(st.updates == 1);
  CHECK(st.hits == 1);
  CHECK(st.misses == 2);
  CHECK(st.expirations == 1);
  CHECK(st.evictions == 1);
  CHECK(st.removes == 1);
  CHECK(st.entry_count == 1);
  CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
  CHECK(st.total_cost == cost);
  CHECK(st.observer_panics == 0);
  CHECK_STATUS(storage_stats(NULL, &st), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_stats(s, NULL), STORAGE_NULL_POINTER);
  storage_free(s);
}

/* ------------------------------------------------------------ observers */

#define MAX_EVENTS 64

struct recorded {
  storage_event_kind_t kind;
  storage_expiry_reason_t reason;
  char key[64];
  char value[512];
  char old_value[512];
  bool is_backup;
};

struct recorder {
  storage_t *storage;
  int count;
  struct recorded events[MAX_EVENTS];
  /* Re-entrancy: on a put of "trigger", read it back and write "echo". */
  int reentrant;
  storage_status_t inner_get;
  size_t inner_len;
  storage_status_t inner_put;
  /* Self-unsubscription on the first event. */
  uint64_t unsubscribe_id;
  storage_status_t unsubscribe_status;
};

static void json_of(const uint8_t *bytes, size_t len, char *out, size_t cap) {
  size_t n = 0;
  out[0] = '\0';
  if (bytes != NULL &&
      storage_value_msgpack_to_json(bytes, len, out, cap, &n) != STORAGE_OK) {
    snprintf(out, cap, "(undecodable)");
  }
}

static void record_event(const storage_event_t *e, void *user_data) {
  struct recorder *r = user_data;
  struct recorded *rec;
  if (r->count >= MAX_EVENTS) return;
  rec = &r->events[r->count++];
  rec->kind = e->kind;
  rec->reason = e->expiry_reason;
  rec->is_backup = e->is_backup;
  snprintf(rec->key, sizeof rec->key, "%.*s", (int)e->key_len, e->key);
  json_of(e->value, e->value_len, rec->value, sizeof rec->value);
  json_of(e->old_value, e->old_value_len, rec->old_value, sizeof rec->old_value);
  if (e->value == NULL && e->value_len != 0) snprintf(rec->value, sizeof rec->value, "(bad len)");
  if (r->reentrant && e->kind == STORAGE_EVENT_PUT && e->key_len == 7 &&
      memcmp(e->key, "trigger", 7) == 0) {
    uint8_t buf[256];
    r->inner_get = storage_get(r->storage, KEY("trigger"), buf, sizeof buf, &r->inner_len);
    r->inner_put = put_lww(r->storage, "echo", "\"from callback\"", 0, 0);
  }
  if (r->unsubscribe_id != 0) {
    r->unsubscribe_status = storage_unsubscribe(r->storage, r->unsubscribe_id);
    r->unsubscribe_id = 0;
  }
}

static void test_observer_events(void) {
  storage_options_t o = manual_options();
  storage_t *s;
  struct recorder *r = calloc(1, sizeof *r);
  uint64_t id = 0;
  int i;
  o.max_entries = 2;
  o.eviction_policy = STORAGE_EVICTION_LRU;
  REQUIRE(r != NULL);
  s = new_with(&o);
  r->storage = s;
  CHECK_STATUS(storage_subscribe(s, record_event, r, &id), STORAGE_OK);
  CHECK(id != 0);
  CHECK_STATUS(put_lww(s, "a", "1", 0, 0), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "a", "2", 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_remove(s, KEY("a")), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "t", "3", 10, 0), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 11, NULL), STORAGE_OK);
  CHECK_STATUS(storage_contains_key(s, KEY("t")), STORAGE_NOT_FOUND); /* no event */
  CHECK_STATUS(storage_maintain(s, NULL), STORAGE_OK);                 /* expire t */
  CHECK_STATUS(put_lww(s, "x", "4", 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 1, NULL), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "y", "5", 0, 0), STORAGE_OK);
  CHECK_STATUS(storage_clock_advance(s, 1, NULL), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "z", "6", 0, 0), STORAGE_OK); /* evicts x */
  CHECK_STATUS(storage_clear(s, NULL), STORAGE_OK);

  REQUIRE(r->count == 10);
  {
    const storage_event_kind_t kinds[10] = {
        STORAGE_EVENT_PUT, STORAGE_EVENT_UPDATE, STORAGE_EVENT_REMOVE, STORAGE_EVENT_PUT,
        STORAGE_EVENT_EXPIRE, STORAGE_EVENT_PUT, STORAGE_EVENT_PUT, STORAGE_EVENT_PUT,
        STORAGE_EVENT_EVICT, STORAGE_EVENT_CLEAR};
    const char *keys[10] = {"a", "a", "a", "t", "t", "x", "y", "z", "x", ""};
    for (i = 0; i < 10; i++) {
      CHECK(r->events[i].kind == kinds[i]);
      CHECK(strcmp(r->events[i].key, keys[i]) == 0);
      CHECK(!r->events[i].is_backup);
    }
  }
  CHECK(strstr(r->events[0].value, "\"value\":1,") != NULL);
  CHECK(r->events[0].old_value[0] == '\0');
  CHECK(strstr(r->events[1].value, "\"value\":2,") != NULL);
  CHECK(strstr(r->events[1].old_value, "\"value\":1,") != NULL);
  CHECK(strstr(r->events[2].value, "\"value\":2,") != NULL); /* the value that went */
  CHECK(r->events[4].reason == STORAGE_EXPIRY_TTL);
  CHECK(r->events[3].reason == STORAGE_EXPIRY_NONE);
  CHECK(strstr(r->events[8].value, "\"value\":4,") != NULL);
  CHECK(r->events[9].value[0] == '\0'); /* clear: no value */

  /* Unsubscribed: no more events; a second unsubscribe is NOT_FOUND. */
  CHECK_STATUS(storage_unsubscribe(s, id), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "after", "1", 0, 0), STORAGE_OK);
  CHECK(r->count == 10);
  CHECK_STATUS(storage_unsubscribe(s, id), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_unsubscribe(s, 0), STORAGE_NOT_FOUND);
  CHECK_STATUS(storage_unsubscribe(NULL, id), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_subscribe(NULL, record_event, r, &id), STORAGE_NULL_POINTER);
  CHECK_STATUS(storage_subscribe(s, NULL, r, &id), STORAGE_NULL_POINTER);
  CHECK(strcmp(last_error(), "`callback` is NULL") == 0);
  CHECK_STATUS(storage_subscribe(s, record_event, r, NULL), STORAGE_NULL_POINTER);
  storage_free(s);
  free(r);
}

static void test_observer_may_call_back_into_the_handle(void) {
  storage_t *s = new_store();
  struct recorder *r = calloc(1, sizeof *r);
  uint64_t id = 0, id2 = 0;
  REQUIRE(r != NULL);
  r->storage = s;
  r->reentrant = 1;
  r->inner_get = STORAGE_PANIC;
  CHECK_STATUS(storage_subscribe(s, record_event, r, &id), STORAGE_OK);
  CHECK_STATUS(put_lww(s, "trigger", "\"go\"", 0, 0), STORAGE_OK);
  CHECK_STATUS(r->inner_get, STORAGE_OK);
  CHECK(r->inner_len > 0);
  CHECK_STATUS(r->inner_put, STORAGE_OK);
  /* The nested put's event arrived after the outer callback returned and
   * before the outer put returned (deliveries never nest). */
  REQUIRE(r->count == 2);
  CHECK(strcmp(r->events[1].key, "echo") == 0);
  CHECK(strcmp(r->events[0].key, "trigger") == 0);
  CHECK(strcmp(get_json(s, "echo"),
               "{\"value\":\"from callback\",\"timestamp\":{\"millis\":1,\"counter\":0,"
               "\"nodeId\":\"n1\"}}") == 0);

  /* A callback that unsubscribes itself. */
  r->reentrant = 0;
  r->count = 0;
  CHECK_STATUS(storage_unsubscribe(s, id), STORAGE_OK);
  CHECK_STATUS(storage_subscribe(s, record_event, r, &id2), STORAGE_OK);
  r->unsubscribe_id = id2;
  r->unsubscribe_status = STORAGE_PANIC;
  CHECK_STATUS(put_lww(s, "one", "1", 0, 0), STORAGE_OK);
  CHECK_STATUS(r->unsubscribe_status, STORAGE_OK);
  CHECK_STATUS(put_lww(s, "two", "1", 0, 0), STORAGE_OK);
  CHECK(r->count == 1);
  /* Freeing a handle with live subscriptions releases them. */
  CHECK_STATUS(storage_subscribe(s, record_event, r, &id), STORAGE_OK);
  storage_free(s);
  free(r);
}

/* ------------------------------------------------- numbers at their limits */

/* JSON integers outside i64 in a value are out of range (as in MessagePack,
 * Python and Node), never the nearest float; nothing is stored. */
static void test_json_integers_beyond_i64_are_refused(void) {
  storage_t *s = new_store();
  const char *bad[] = {"18446744073709551615", "9223372036854775808", "-9223372036854775809",
                       "100000000000000000000000", "[1, {\"a\": 18446744073709551616}]"};
  char json[256], text[256];
  uint8_t bytes[256];
  size_t len = 0, i;
  for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    snprintf(json, sizeof json,
             "{\"value\":%s,\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n\"}}", bad[i]);
    CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(json), 0, 0), STORAGE_VALUE_RANGE);
    CHECK(strstr(last_error(), "is out of range for i64") != NULL);
    CHECK(strstr(last_error(), "$.value") != NULL);
    CHECK_STATUS(storage_value_json_to_msgpack(KEY(json), bytes, sizeof bytes, &len),
                 STORAGE_VALUE_RANGE);
  }
  CHECK(len_of(s) == 0);
  CHECK(strstr(last_error(), "integer 18446744073709551616 is out of range for i64 at $.value[1].a") != NULL);
  /* The limits themselves are exact; a float literal stays a float. */
  CHECK_STATUS(storage_put_json(s, KEY("max"), KEY("{\"value\":[9223372036854775807,-9223372036854775808,1e19],"
                                                   "\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n\"}}"),
                                0, 0),
               STORAGE_OK);
  CHECK_STATUS(storage_get_json(s, KEY("max"), text, sizeof text, &len), STORAGE_OK);
  CHECK(strcmp(text, "{\"value\":[9223372036854775807,-9223372036854775808,1e+19],"
                     "\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n\"}}") == 0);
  storage_free(s);
}

/* Expiry limits are at most 2^63-1 ms (a record's ttlMs range, the limit
 * of Python and Node too): one more is STORAGE_INVALID_ARGUMENT, never
 * saturated, and nothing is created or written. */
static void test_expiry_limits_beyond_2_pow_63_are_refused(void) {
  storage_options_t o = manual_options();
  storage_t *s = NULL, *t;
  const uint64_t top = 9223372036854775807ULL;
  uint64_t over[2];
  size_t i;
  over[0] = top + 1;
  over[1] = UINT64_MAX;
  for (i = 0; i < 2; i++) {
    o.default_ttl_ms = over[i];
    CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
    CHECK(s == NULL);
    CHECK(strstr(last_error(), "options.default_ttl_ms is") != NULL);
    CHECK(strstr(last_error(), "at most 2^63-1 = 9223372036854775807 ms") != NULL);
    o.default_ttl_ms = 0;
    o.default_max_idle_ms = over[i];
    CHECK_STATUS(storage_new_with_options(&o, &s), STORAGE_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "options.default_max_idle_ms is") != NULL);
    o.default_max_idle_ms = 0;
  }
  o.default_ttl_ms = top;
  o.default_max_idle_ms = top;
  t = new_with(&o);
  for (i = 0; i < 2; i++) {
    CHECK_STATUS(put_lww(t, "k", "1", over[i], 0), STORAGE_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "`ttl_ms` is") != NULL);
    CHECK_STATUS(put_lww(t, "k", "1", 0, over[i]), STORAGE_INVALID_ARGUMENT);
    CHECK(strstr(last_error(), "`max_idle_ms` is") != NULL);
  }
  CHECK(len_of(t) == 0);
  CHECK_STATUS(put_lww(t, "k", "1", top, top), STORAGE_OK);
  /* The largest limit never expires, even at the end of time. */
  CHECK_STATUS(storage_clock_set(t, INT64_MAX), STORAGE_OK);
  CHECK_STATUS(storage_contains_key(t, KEY("k")), STORAGE_OK);
  storage_free(t);
}

/* millis and ttlMs hold 0 ..= 2^63-1 in every form: a larger one is refused
 * from MessagePack and JSON alike, so whatever a read returns, a write (and
 * every other language) accepts. */
static void test_times_beyond_2_pow_63_are_refused(void) {
  storage_t *s = new_store();
  const char *top = "{\"value\":1,\"timestamp\":{\"millis\":9223372036854775807,\"counter\":0,"
                    "\"nodeId\":\"n\"},\"ttlMs\":9223372036854775807}";
  const char *over[] = {
      "{\"value\":1,\"timestamp\":{\"millis\":9223372036854775808,\"counter\":0,\"nodeId\":\"n\"}}",
      "{\"value\":1,\"timestamp\":{\"millis\":18446744073709551615,\"counter\":0,\"nodeId\":\"n\"}}",
      "{\"value\":1,\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n\"},\"ttlMs\":18446744073709551615}"};
  /* {"value":1,"timestamp":{"millis":<uint64 2^64-1>,"counter":0,"nodeId":"n"}} */
  uint8_t packed[64], out[128];
  char text[256];
  size_t n = 0, len = 0, i;
  packed[n++] = 0x82;
  packed[n++] = 0xa5;
  memcpy(packed + n, "value", 5);
  n += 5;
  packed[n++] = 0x01;
  packed[n++] = 0xa9;
  memcpy(packed + n, "timestamp", 9);
  n += 9;
  packed[n++] = 0x83;
  packed[n++] = 0xa6;
  memcpy(packed + n, "millis", 6);
  n += 6;
  packed[n++] = 0xcf;
  memset(packed + n, 0xff, 8);
  n += 8;
  packed[n++] = 0xa7;
  memcpy(packed + n, "counter", 7);
  n += 7;
  packed[n++] = 0x00;
  packed[n++] = 0xa6;
  memcpy(packed + n, "nodeId", 6);
  n += 6;
  packed[n++] = 0xa1;
  packed[n++] = 'n';
  CHECK_STATUS(storage_put(s, KEY("k"), packed, n, 0, 0), STORAGE_VALUE_RANGE);
  CHECK(strstr(last_error(), "18446744073709551615 is out of range for 0 ..= 2^63-1 at $.timestamp.millis") != NULL);
  CHECK_STATUS(storage_value_msgpack_to_json(packed, n, text, sizeof text, &len),
               STORAGE_VALUE_RANGE);
  for (i = 0; i < sizeof over / sizeof over[0]; i++) {
    CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(over[i]), 0, 0), STORAGE_VALUE_RANGE);
  }
  CHECK(len_of(s) == 0);
  /* 2^63-1 is exact through MessagePack and JSON, in and out. */
  CHECK_STATUS(storage_put_json(s, KEY("k"), KEY(top), 0, 0), STORAGE_OK);
  CHECK(strcmp(get_json(s, "k"), top) == 0);
  CHECK_STATUS(storage_get(s, KEY("k"), out, sizeof out, &len), STORAGE_OK);
  CHECK_STATUS(storage_put(s, KEY("again"), out, len, 0, 0), STORAGE_OK);
  CHECK(strcmp(get_json(s, "again"), top) == 0);
  storage_free(s);
}

/* ------------------------------------------------ cursors of another store */

static void test_cursor_of_another_store_is_refused(void) {
  storage_t *a = new_store(), *b = new_store();
  uint8_t cursor[STORAGE_CURSOR_SIZE] = {0}, end[STORAGE_CURSOR_SIZE] = {0};
  uint8_t buf[16384];
  size_t len = 0, count = 0;
  bool finished = false;
  char key[32];
  int i;
  for (i = 0; i < 1000; i++) {
    snprintf(key, sizeof key, "a%d", i);
    REQUIRE(put_lww(a, key, "1", 0, 0) == STORAGE_OK);
    snprintf(key, sizeof key, "b%d", i);
    REQUIRE(put_lww(b, key, "1", 0, 0) == STORAGE_OK);
  }
  /* Both stores have the same layout (storage_new): only the store differs. */
  CHECK_STATUS(storage_fetch_keys(a, cursor, 700, buf, sizeof buf, &len, &count, &finished),
               STORAGE_OK);
  REQUIRE(count == 700 && !finished);
  memcpy(end, cursor, sizeof cursor);
  CHECK_STATUS(storage_fetch_keys(b, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  CHECK(strstr(last_error(), "another store") != NULL);
  CHECK_STATUS(storage_fetch_entries(b, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  CHECK(memcmp(cursor, end, sizeof cursor) == 0); /* unchanged */
  /* A's cursor still works on A; A's finished cursor is refused by B too. */
  CHECK_STATUS(storage_fetch_keys(a, cursor, 1000, buf, sizeof buf, &len, &count, &finished),
               STORAGE_OK);
  CHECK(count == 300 && finished);
  CHECK_STATUS(storage_fetch_keys(b, cursor, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  /* A forged cursor: A's with another position and the old (unkeyed) kind
   * of checksum is refused by A. */
  end[8] ^= 0x10;
  CHECK_STATUS(storage_fetch_keys(a, end, 10, buf, sizeof buf, &len, &count, &finished),
               STORAGE_INVALID_CURSOR);
  storage_free(a);
  storage_free(b);
}

/* ------------------------------------------------------------- misuse */

struct free_in_callback {
  storage_t *storage;
  char message[256];
  int calls;
};

static void free_own_handle(const storage_event_t *e, void *user_data) {
  struct free_in_callback *f = user_data;
  size_t len = 0;
  (void)e;
  f->calls++;
  storage_free(f->storage); /* not allowed: refused, the handle stays live */
  if (storage_last_error_message(f->message, sizeof f->message, &len) != STORAGE_OK) {
    f->message[0] = '\0';
  }
}

/* A call on a freed handle, a second storage_free and a storage_free from
 * inside the handle's own callback are detected: STORAGE_MISUSE, and nothing
 * is read from freed memory (valgrind and ASan run this test). */
static void test_misuse_is_detected(void) {
  storage_t *s = new_store(), *handles[64];
  struct free_in_callback f;
  uint8_t buf[64];
  uint8_t cursor[STORAGE_CURSOR_SIZE] = {0};
  size_t n = 0, c = 0;
  uint64_t id = 0;
  bool fin = false;
  int i;
  CHECK(strcmp(storage_status_str(STORAGE_MISUSE),
               "API misuse (freed handle, double free, free from a callback)") == 0);
  REQUIRE(put_lww(s, "k", "1", 0, 0) == STORAGE_OK);
  storage_free(s);
  CHECK_STATUS(storage_len(s, &n), STORAGE_MISUSE);
  CHECK(strstr(last_error(), "storage_free() was called on this handle before") != NULL);
  CHECK_STATUS(storage_get(s, KEY("k"), buf, sizeof buf, &n), STORAGE_MISUSE);
  CHECK_STATUS(put_lww(s, "k", "2", 0, 0), STORAGE_MISUSE);
  CHECK_STATUS(storage_contains_key(s, KEY("k")), STORAGE_MISUSE);
  CHECK_STATUS(storage_fetch_keys(s, cursor, 1, buf, sizeof buf, &n, &c, &fin), STORAGE_MISUSE);
  CHECK_STATUS(storage_subscribe(s, free_own_handle, NULL, &id), STORAGE_MISUSE);
  CHECK_STATUS(storage_unsubscribe(s, 1), STORAGE_MISUSE);
  CHECK_STATUS(storage_stats(s, NULL), STORAGE_MISUSE);
  storage_free(s); /* a second free does nothing */
  CHECK(strstr(last_error(), "already freed") != NULL);

  /* Many handles: each freed one is still recognised as freed. */
  for (i = 0; i < 64; i++) handles[i] = new_store();
  for (i = 0; i < 64; i++) storage_free(handles[i]);
  for (i = 0; i < 64; i++) CHECK_STATUS(storage_len(handles[i], &n), STORAGE_MISUSE);

  /* storage_free from inside a callback of the same handle is refused. */
  memset(&f, 0, sizeof f);
  f.storage = new_store();
  CHECK_STATUS(storage_subscribe(f.storage, free_own_handle, &f, &id), STORAGE_OK);
  CHECK_STATUS(put_lww(f.storage, "k", "1", 0, 0), STORAGE_OK);
  CHECK(f.calls == 1);
  CHECK(strstr(f.message, "inside a callback of the same handle") != NULL);
  CHECK_STATUS(storage_unsubscribe(f.storage, id), STORAGE_OK);
  CHECK(len_of(f.storage) == 1); /* still live */
  storage_free(f.storage);
  CHECK_STATUS(storage_len(f.storage, &n), STORAGE_MISUSE);
}

/* ------------------------------------------------------- every NULL handle */

static void test_null_handle_everywhere(void) {
  uint8_t buf[64];
  uint8_t cursor[STORAGE_CURSOR_SIZE] = {0};
  size_t n = 0, c = 0;
  uint64_t u = 0;
  int64_t t = 0;
  bool f = false;
  storage_stats_t st;
  storage_metadata_t meta;
  storage_maintenance_t rep;
  const storage_status_t want = STORAGE_NULL_POINTER;
  CHECK_STATUS(storage_clock_now(NULL, &t), want);
  CHECK_STATUS(storage_clock_set(NULL, 1), want);
  CHECK_STATUS(storage_clock_advance(NULL, 1, &t), want);
  CHECK_STATUS(storage_put(NULL, KEY("k"), buf, 1, 0, 0), want);
  CHECK_STATUS(storage_put_json(NULL, KEY("k"), "{}", 2, 0, 0), want);
  CHECK_STATUS(storage_remove(NULL, KEY("k")), want);
  CHECK_STATUS(storage_clear(NULL, &n), want);
  CHECK_STATUS(storage_get(NULL, KEY("k"), buf, sizeof buf, &n), want);
  CHECK_STATUS(storage_get_with_metadata(NULL, KEY("k"), buf, sizeof buf, &n, &meta), want);
  CHECK_STATUS(storage_get_json(NULL, KEY("k"), (char *)buf, sizeof buf, &n), want);
  CHECK_STATUS(storage_contains_key(NULL, KEY("k")), want);
  CHECK_STATUS(storage_len(NULL, &n), want);
  CHECK_STATUS(storage_estimated_cost(NULL, &u), want);
  CHECK_STATUS(storage_fetch_keys(NULL, cursor, 1, buf, sizeof buf, &n, &c, &f), want);
  CHECK_STATUS(storage_fetch_entries(NULL, cursor, 1, buf, sizeof buf, &n, &c, &f), want);
  CHECK_STATUS(storage_random_samples(NULL, 1, buf, sizeof buf, &n, &c), want);
  CHECK_STATUS(storage_maintain(NULL, &rep), want);
  CHECK_STATUS(storage_stats(NULL, &st), want);
  CHECK_STATUS(storage_subscribe(NULL, record_event, NULL, &u), want);
  CHECK_STATUS(storage_unsubscribe(NULL, 1), want);
  CHECK(strcmp(last_error(), "`storage` is NULL") == 0);
}

int main(void) {
  printf("topgun_storage C API tests (library %s, ABI %u)\n", storage_version(),
         storage_abi_version());
  RUN(test_versions);
  RUN(test_status_strings);
  RUN(test_last_error_message);
  RUN(test_new_and_free);
  RUN(test_options);
  RUN(test_clock);
  RUN(test_put_get_round_trip);
  RUN(test_other_value_shapes);
  RUN(test_get_size_negotiation);
  RUN(test_null_and_bad_arguments_to_reads);
  RUN(test_put_rejects_bad_input_and_changes_nothing);
  RUN(test_json_get_and_conversions);
  RUN(test_metadata);
  RUN(test_remove_contains_len_cost_clear);
  RUN(test_expiry);
  RUN(test_bounds_and_eviction);
  RUN(test_large_put_keeps_the_cost_bound);
  RUN(test_fetch_pages_cover_every_key_once);
  RUN(test_fetch_edge_cases);
  RUN(test_fetch_skips_expired);
  RUN(test_page_next);
  RUN(test_random_samples);
  RUN(test_stats);
  RUN(test_observer_events);
  RUN(test_observer_may_call_back_into_the_handle);
  RUN(test_null_handle_everywhere);
  RUN(test_json_integers_beyond_i64_are_refused);
  RUN(test_times_beyond_2_pow_63_are_refused);
  RUN(test_expiry_limits_beyond_2_pow_63_are_refused);
  RUN(test_cursor_of_another_store_is_refused);
  RUN(test_misuse_is_detected);
  return harness_finish();
}
