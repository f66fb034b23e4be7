/*
 * The C parity runner (see tests/parity/README.md).
 *
 *   runner run|write [--backend B --at LOCATION [--durability D]] OUT_DIR SCENARIO.tsv...
 *
 * Replays scenarios flattened by `parity-rust flatten` (one step per line,
 * tab-separated `field=value`, text fields hex-encoded) through the C API of
 * libtopgun_storage (in memory, or over backend B: README, "Backends") and
 * writes OUT_DIR/<name>.txt, one line per step; `write` runs the write steps
 * (<name>.write.tsv) of the cross-language scenarios C writes.
 * Values come back as the MessagePack bytes the library writes; "encode" of
 * MessagePack input round-trips the bytes through a scratch store, which is
 * C's native form of a value.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <topgun_storage.h>

/* ---- small utilities -------------------------------------------------- */

static void die(const char *what) {
  fprintf(stderr, "parity-c: %s\n", what);
  exit(1);
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) die("out of memory");
  return p;
}

/* A growable string. */
typedef struct {
  char *s;
  size_t len, cap;
} str_t;

static void str_add(str_t *b, const char *text, size_t n) {
  if (b->len + n + 1 > b->cap) {
    b->cap = (b->len + n + 1) * 2;
    b->s = realloc(b->s, b->cap);
    if (!b->s) die("out of memory");
  }
  memcpy(b->s + b->len, text, n);
  b->len += n;
  b->s[b->len] = '\0';
}

static void str_cat(str_t *b, const char *text) { str_add(b, text, strlen(text)); }

static void str_fmt(str_t *b, const char *fmt, unsigned long long v) {
  char tmp[64];
  int n = snprintf(tmp, sizeof tmp, fmt, v);
  str_add(b, tmp, (size_t)n);
}

static void str_hex(str_t *b, const uint8_t *data, size_t n) {
  static const char digits[] = "0123456789abcdef";
  for (size_t i = 0; i < n; i++) {
    char pair[2] = {digits[data[i] >> 4], digits[data[i] & 15]};
    str_add(b, pair, 2);
  }
}

static int nibble(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* Decodes hex into a new buffer (NUL-terminated for text use). */
static uint8_t *unhex(const char *hex, size_t *out_len) {
  size_t n = strlen(hex) / 2;
  uint8_t *out = xmalloc(n + 1);
  for (size_t i = 0; i < n; i++) {
    int hi = nibble(hex[2 * i]), lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) die("bad hex in scenario");
    out[i] = (uint8_t)(hi << 4 | lo);
  }
  out[n] = 0;
  *out_len = n;
  return out;
}

static const char *category(storage_status_t st) {
  switch (st) {
    case STORAGE_MALFORMED_VALUE: return "malformed_value";
    case STORAGE_VALUE_SHAPE: return "value_shape";
    case STORAGE_VALUE_RANGE: return "value_range";
    case STORAGE_INVALID_CURSOR: return "invalid_cursor";
    case STORAGE_INVALID_ARGUMENT: return "invalid_argument";
    case STORAGE_CAPACITY_EXCEEDED: return "capacity_exceeded";
    case STORAGE_ENTRY_TOO_LARGE: return "entry_too_large";
    case STORAGE_DATA_STORE: return "data_store";
    case STORAGE_CLOSED: return "closed";
    case STORAGE_IO: return "io";
    case STORAGE_CORRUPT: return "corrupt";
    case STORAGE_LOCKED: return "locked";
    case STORAGE_UNAVAILABLE: return "unavailable";
    case STORAGE_DISK_FULL: return "disk_full";
    case STORAGE_REJECTED: return "rejected";
    default: return storage_status_str(st);
  }
}

/* ---- one flattened step ---------------------------------------------- */

typedef struct {
  char op[32];
  uint8_t *key, *json, *msgpack, *cursor;
  size_t key_len, json_len, msgpack_len, cursor_len;
  unsigned long long ttl, max_idle, page, k;
  long long ms;
} step_t;

static void step_free(step_t *s) {
  free(s->key);
  free(s->json);
  free(s->msgpack);
  free(s->cursor);
}

/* Parses `op\tname=value\t...` (the line is modified). */
static void parse_step(char *line, step_t *s) {
  memset(s, 0, sizeof *s);
  char *save = NULL;
  char *field = strtok_r(line, "\t", &save);
  if (!field || strlen(field) >= sizeof s->op) die("bad step line");
  strcpy(s->op, field);
  while ((field = strtok_r(NULL, "\t", &save))) {
    char *eq = strchr(field, '=');
    if (!eq) die("bad field");
    *eq = 0;
    const char *name = field, *value = eq + 1;
    if (!strcmp(name, "key")) s->key = unhex(value, &s->key_len);
    else if (!strcmp(name, "json")) s->json = unhex(value, &s->json_len);
    else if (!strcmp(name, "msgpack")) s->msgpack = unhex(value, &s->msgpack_len);
    else if (!strcmp(name, "cursor")) s->cursor = unhex(value, &s->cursor_len);
    else if (!strcmp(name, "ttl")) s->ttl = strtoull(value, NULL, 10);
    else if (!strcmp(name, "max_idle")) s->max_idle = strtoull(value, NULL, 10);
    else if (!strcmp(name, "ms")) s->ms = strtoll(value, NULL, 10);
    else if (!strcmp(name, "page")) s->page = strtoull(value, NULL, 10);
    else if (!strcmp(name, "k")) s->k = strtoull(value, NULL, 10);
  }
  if (!s->key) s->key = unhex("", &s->key_len);
}

/* ---- reads with size negotiation -------------------------------------- */

typedef struct {
  uint8_t *data;
  size_t cap;
} buf_t;

/* storage_get or storage_get_with_metadata into `b`, growing it once when
 * the first try reports the size it needs (a refused read counts nothing). */
static storage_status_t get_value(storage_t *st, const step_t *s, buf_t *b, size_t *len,
                                  storage_metadata_t *meta) {
  for (int attempt = 0; attempt < 2; attempt++) {
    storage_status_t r = meta ? storage_get_with_metadata(st, (const char *)s->key, s->key_len,
                                                          b->data, b->cap, len, meta)
                              : storage_get(st, (const char *)s->key, s->key_len, b->data,
                                            b->cap, len);
    if (r != STORAGE_BUFFER_TOO_SMALL) return r;
    free(b->data);
    b->cap = *len;
    b->data = xmalloc(b->cap);
  }
  return STORAGE_BUFFER_TOO_SMALL;
}

/* Every item of every page of a scan, as strings "keyhex" or
 * "keyhex:valuehex"; the caller frees them. */
typedef struct {
  char **items;
  size_t count, cap;
} list_t;

static void list_push(list_t *l, char *item) {
  if (l->count == l->cap) {
    l->cap = l->cap ? l->cap * 2 : 64;
    l->items = realloc(l->items, l->cap * sizeof *l->items);
    if (!l->items) die("out of memory");
  }
  l->items[l->count++] = item;
}

static void list_free(list_t *l) {
  for (size_t i = 0; i < l->count; i++) free(l->items[i]);
  free(l->items);
  memset(l, 0, sizeof *l);
}

static int by_text(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Turns a page of items (entries: key item then value item) into strings. */
static void page_items(const uint8_t *page, size_t len, bool entries, list_t *out) {
  size_t offset = 0;
  const uint8_t *item;
  size_t item_len;
  while (storage_page_next(page, len, &offset, &item, &item_len) == STORAGE_OK) {
    str_t text = {0};
    str_hex(&text, item, item_len);
    if (entries) {
      if (storage_page_next(page, len, &offset, &item, &item_len) != STORAGE_OK)
        die("entry without a value");
      str_cat(&text, ":");
      str_hex(&text, item, item_len);
    }
    list_push(out, text.s ? text.s : strdup(""));
  }
}

static storage_status_t scan(storage_t *st, size_t page, bool entries, list_t *out) {
  uint8_t cursor[STORAGE_CURSOR_SIZE] = {0};
  size_t cap = 1 << 16;
  uint8_t *buf = xmalloc(cap);
  bool finished = false;
  storage_status_t r = STORAGE_OK;
  while (!finished) {
    size_t len = 0, count = 0;
    r = entries ? storage_fetch_entries(st, cursor, page, buf, cap, &len, &count, &finished)
                : storage_fetch_keys(st, cursor, page, buf, cap, &len, &count, &finished);
    if (r == STORAGE_BUFFER_TOO_SMALL) { /* one item is larger than the buffer */
      free(buf);
      cap = len * 2;
      buf = xmalloc(cap);
      continue;
    }
    if (r != STORAGE_OK) break;
    page_items(buf, len, entries, out);
  }
  free(buf);
  return r;
}

static void join_sorted(str_t *line, const char *label, list_t *l) {
  qsort(l->items, l->count, sizeof *l->items, by_text);
  str_cat(line, label);
  for (size_t i = 0; i < l->count; i++) {
    if (i) str_cat(line, ",");
    str_cat(line, l->items[i]);
  }
}

/* ---- the steps --------------------------------------------------------- */

static storage_status_t run_step(storage_t *st, const step_t *s, buf_t *b, str_t *line) {
  storage_status_t r = STORAGE_OK;
  const char *key = (const char *)s->key;
  size_t len = 0;
  if (!strcmp(s->op, "put") || !strcmp(s->op, "putPath")) {
    r = s->json ? storage_put_json(st, key, s->key_len, (const char *)s->json, s->json_len,
                                   s->ttl, s->max_idle)
                : storage_put(st, key, s->key_len, s->msgpack, s->msgpack_len, s->ttl,
                              s->max_idle);
    if (r == STORAGE_OK) str_cat(line, "ok");
  } else if (!strcmp(s->op, "get") || !strcmp(s->op, "getBytes")) {
    r = get_value(st, s, b, &len, NULL);
    if (r == STORAGE_OK) {
      str_cat(line, "value=");
      str_hex(line, b->data, len);
    } else if (r == STORAGE_NOT_FOUND) {
      str_cat(line, "value=-");
      r = STORAGE_OK;
    }
  } else if (!strcmp(s->op, "record")) {
    storage_metadata_t m;
    r = get_value(st, s, b, &len, &m);
    if (r == STORAGE_OK) {
      str_cat(line, "value=");
      str_hex(line, b->data, len);
      str_fmt(line, " version=%llu", m.version);
      str_fmt(line, " hits=%llu", m.hits);
      str_fmt(line, " created=%llu", (unsigned long long)m.creation_time_ms);
      str_fmt(line, " updated=%llu", (unsigned long long)m.last_update_time_ms);
      str_fmt(line, " accessed=%llu", (unsigned long long)m.last_access_time_ms);
    } else if (r == STORAGE_NOT_FOUND) {
      str_cat(line, "value=-");
      r = STORAGE_OK;
    }
  } else if (!strcmp(s->op, "remove") || !strcmp(s->op, "has")) {
    bool remove = !strcmp(s->op, "remove");
    r = remove ? storage_remove(st, key, s->key_len) : storage_contains_key(st, key, s->key_len);
    if (r == STORAGE_OK || r == STORAGE_NOT_FOUND) {
      str_cat(line, remove ? "removed=" : "has=");
      str_cat(line, r == STORAGE_OK ? "true" : "false");
      r = STORAGE_OK;
    }
  } else if (!strcmp(s->op, "len") || !strcmp(s->op, "clear")) {
    size_t removed = 0, n = 0;
    if (!strcmp(s->op, "clear")) r = storage_clear(st, &removed);
    if (r == STORAGE_OK) r = storage_len(st, &n);
    if (r == STORAGE_OK) str_fmt(line, "len=%llu", n);
  } else if (!strcmp(s->op, "cost")) {
    uint64_t cost = 0;
    r = storage_estimated_cost(st, &cost);
    if (r == STORAGE_OK) str_fmt(line, "cost=%llu", cost);
  } else if (!strcmp(s->op, "advance")) {
    int64_t now = 0;
    r = storage_clock_advance(st, s->ms, &now);
    if (r == STORAGE_OK) str_fmt(line, "now=%llu", (unsigned long long)now);
  } else if (!strcmp(s->op, "maintain")) {
    storage_maintenance_t m;
    r = storage_maintain(st, &m);
    if (r == STORAGE_OK) {
      str_fmt(line, "expired=%llu", m.expired);
      str_fmt(line, " evicted=%llu", m.evicted);
    }
  } else if (!strcmp(s->op, "scan") || !strcmp(s->op, "scanEntries")) {
    bool entries = !strcmp(s->op, "scanEntries");
    list_t items = {0};
    r = scan(st, s->page, entries, &items);
    if (r == STORAGE_OK) join_sorted(line, entries ? "entries=" : "keys=", &items);
    list_free(&items);
  } else if (!strcmp(s->op, "samples")) {
    size_t cap = 1 << 20, count = 0;
    uint8_t *page = xmalloc(cap);
    r = storage_random_samples(st, s->k, page, cap, &len, &count);
    if (r == STORAGE_OK) {
      list_t sample = {0}, all = {0};
      page_items(page, len, true, &sample);
      r = scan(st, 1000, true, &all);
      bool distinct = true, members = true;
      for (size_t i = 0; i < sample.count; i++) {
        size_t key_end = strcspn(sample.items[i], ":");
        for (size_t j = 0; j < i; j++)
          if (!strncmp(sample.items[i], sample.items[j], key_end) &&
              strcspn(sample.items[j], ":") == key_end)
            distinct = false;
        bool found = false;
        for (size_t j = 0; j < all.count && !found; j++) found = !strcmp(all.items[j], sample.items[i]);
        members = members && found;
      }
      str_fmt(line, "count=%llu", sample.count);
      str_cat(line, distinct ? " distinct=true" : " distinct=false");
      str_cat(line, members ? " members=true" : " members=false");
      list_free(&sample);
      list_free(&all);
    }
    free(page);
  } else if (!strcmp(s->op, "stats")) {
    storage_stats_t t;
    r = storage_stats(st, &t);
    if (r == STORAGE_OK) {
      str_fmt(line, "hits=%llu", t.hits);
      str_fmt(line, " misses=%llu", t.misses);
      str_fmt(line, " puts=%llu", t.puts);
      str_fmt(line, " updates=%llu", t.updates);
      str_fmt(line, " removes=%llu", t.removes);
      str_fmt(line, " evictions=%llu", t.evictions);
      str_fmt(line, " expirations=%llu", t.expirations);
      str_fmt(line, " entries=%llu", t.entry_count);
      str_fmt(line, " cost=%llu", t.total_cost);
    }
  } else if (!strcmp(s->op, "encode")) {
    if (s->json) {
      /* JSON text is C's native form: convert it to MessagePack. */
      size_t need = 0;
      r = storage_value_json_to_msgpack((const char *)s->json, s->json_len, NULL, 0, &need);
      if (r == STORAGE_BUFFER_TOO_SMALL) {
        uint8_t *out = xmalloc(need);
        r = storage_value_json_to_msgpack((const char *)s->json, s->json_len, out, need, &len);
        if (r == STORAGE_OK) {
          str_cat(line, "hex=");
          str_hex(line, out, len);
        }
        free(out);
      }
    } else {
      /* MessagePack: store it in a scratch store and read it back. */
      storage_t *scratch = NULL;
      if (storage_new(&scratch) != STORAGE_OK) die("storage_new");
      r = storage_put(scratch, "v", 1, s->msgpack, s->msgpack_len, 0, 0);
      step_t probe = *s;
      probe.key = (uint8_t *)"v";
      probe.key_len = 1;
      if (r == STORAGE_OK) r = get_value(scratch, &probe, b, &len, NULL);
      if (r == STORAGE_OK) {
        str_cat(line, "hex=");
        str_hex(line, b->data, len);
      }
      storage_free(scratch);
    }
  } else if (!strcmp(s->op, "badCursor")) {
    uint8_t cursor[STORAGE_CURSOR_SIZE] = {0};
    memcpy(cursor, s->cursor, s->cursor_len < sizeof cursor ? s->cursor_len : sizeof cursor);
    uint8_t page[256];
    size_t count = 0;
    bool finished = false;
    r = storage_fetch_keys(st, cursor, s->page, page, sizeof page, &len, &count, &finished);
    if (r == STORAGE_OK) str_cat(line, "ok");
  } else {
    die("unknown op in scenario");
  }
  return r;
}

/* Where the stores of a run live (README, "Backends"). */
typedef struct {
  const char *backend; /* NULL: memory */
  const char *at;
  const char *durability;
} target_t;

/* The store options of a flattened scenario's first line. */
typedef struct {
  storage_options_t options;
  bool durable;
  char writer[16];
} scenario_head_t;

static void parse_head(char *line, scenario_head_t *h) {
  memset(h, 0, sizeof *h);
  storage_options_t *o = &h->options;
  o->struct_size = sizeof *o;
  o->use_manual_clock = 1;
  char *save = NULL;
  for (char *f = strtok_r(line, "\t", &save); f; f = strtok_r(NULL, "\t", &save)) {
    char *eq = strchr(f, '=');
    if (!eq) continue;
    *eq = 0;
    const char *v = eq + 1;
    if (!strcmp(f, "ttl")) o->default_ttl_ms = strtoull(v, NULL, 10);
    else if (!strcmp(f, "max_idle")) o->default_max_idle_ms = strtoull(v, NULL, 10);
    else if (!strcmp(f, "max_entries")) o->max_entries = strtoull(v, NULL, 10);
    else if (!strcmp(f, "max_cost")) o->max_cost = strtoull(v, NULL, 10);
    else if (!strcmp(f, "samples")) o->eviction_sample_count = (uint32_t)strtoul(v, NULL, 10);
    else if (!strcmp(f, "clock")) o->manual_clock_start_ms = strtoll(v, NULL, 10);
    else if (!strcmp(f, "durable")) h->durable = !strcmp(v, "1");
    else if (!strcmp(f, "writer")) snprintf(h->writer, sizeof h->writer, "%s", v);
    else if (!strcmp(f, "eviction"))
      o->eviction_policy = !strcmp(v, "lru")      ? STORAGE_EVICTION_LRU
                           : !strcmp(v, "lfu")    ? STORAGE_EVICTION_LFU
                           : !strcmp(v, "random") ? STORAGE_EVICTION_RANDOM
                                                  : STORAGE_EVICTION_NONE;
  }
}

/* Set when the C API cannot open the requested backend; main writes it to
 * OUT_DIR/NOT-RUN. */
static const char *not_run_reason = NULL;

/* The scenario's store: in memory, or over the target's backend at the
 * location of store `name`. NULL (with not_run_reason set) when this
 * library cannot open that backend. */
static storage_t *open_store(const target_t *t, const char *name, const scenario_head_t *h) {
  storage_t *st = NULL;
  storage_options_t o = h->options;
  str_t where = {0}, table = {0};
  storage_option_t extra[1];
  if (t->backend) {
    if (!strcmp(t->backend, "postgres")) {
      str_cat(&where, t->at);
      str_cat(&table, "p_");
      for (const char *c = name; *c; c++) {
        char ch = (char)(((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')) ? *c : '_');
        str_add(&table, &ch, 1);
      }
      extra[0].name = "table_name";
      extra[0].value = table.s;
      o.extra_options = extra;
      o.extra_options_len = 1;
    } else {
      str_cat(&where, t->at);
      str_cat(&where, "/");
      str_cat(&where, name);
      str_cat(&where, ".");
      str_cat(&where, t->backend);
    }
    o.backend = t->backend;
    o.location = where.s;
    o.durability = !strcmp(t->durability, "os")     ? STORAGE_DURABILITY_OS
                   : !strcmp(t->durability, "none") ? STORAGE_DURABILITY_NONE
                                                    : STORAGE_DURABILITY_FSYNC;
  }
  storage_status_t r = storage_new_with_options(&o, &st);
  free(where.s);
  free(table.s);
  if (r == STORAGE_REJECTED && t->backend) {
    /* this build lacks the backend: say so */
    static char reason[512];
    size_t len = 0;
    char msg[400] = {0};
    storage_last_error_message(msg, sizeof msg, &len);
    snprintf(reason, sizeof reason, "this library cannot open it: %s", msg);
    not_run_reason = reason;
    return NULL;
  }
  if (r != STORAGE_OK) die("storage_new_with_options");
  return st;
}

static void close_store(storage_t *st) {
  if (storage_close(st) != STORAGE_OK) die("storage_close");
  storage_free(st);
}

static const char *const LANGS[] = {"rust", "c", "python", "node"};

/* Replays the steps of `in` (its head line already read into `h`) over
 * store `name`, writing the transcript to `out_path`. A `reopen` step closes
 * the store and opens it again (same location, options and clock). */
static void replay(const target_t *t, const char *name, const scenario_head_t *h, FILE *in,
                   const char *out_path) {
  storage_t *st = open_store(t, name, h);
  if (!st) return;
  FILE *out = fopen(out_path, "w");
  if (!out) die(out_path);
  char *line = NULL;
  size_t cap = 0;
  buf_t b = {xmalloc(1 << 16), 1 << 16};
  unsigned step_no = 0;
  while (getline(&line, &cap, in) > 0) {
    line[strcspn(line, "\n")] = 0;
    step_t s;
    parse_step(line, &s);
    str_t result = {0};
    storage_status_t r = STORAGE_OK;
    if (!strcmp(s.op, "reopen")) {
      /* The clock is the handle's in C: the new handle starts where the
       * old one's clock stood, as the other languages keep their clock. */
      scenario_head_t again = *h;
      int64_t now = 0;
      if (storage_clock_advance(st, 0, &now) != STORAGE_OK) die("storage_clock_advance");
      again.options.manual_clock_start_ms = now;
      close_store(st);
      st = open_store(t, name, &again);
      if (!st) die("reopen failed");
      str_cat(&result, "ok");
    } else {
      r = run_step(st, &s, &b, &result);
    }
    fprintf(out, "%u %s ", ++step_no, s.op);
    if (r == STORAGE_OK) fputs(result.s ? result.s : "", out);
    else {
      fprintf(out, "error=%s", category(r));
      /* putPath: the value path, from the message's last " at $...". */
      if (!strcmp(s.op, "putPath")) {
        char msg[8192];
        size_t mlen = 0;
        if (storage_last_error_message(msg, sizeof msg, &mlen) == STORAGE_OK) {
          char *at = NULL;
          for (char *p = strstr(msg, " at $"); p; p = strstr(p + 1, " at $")) at = p;
          if (at) fprintf(out, " path=%s", at + 4);
        }
      }
    }
    fputc('\n', out);
    free(result.s);
    step_free(&s);
  }
  free(b.data);
  free(line);
  if (st) close_store(st);
  fclose(out);
}

/* Opens a flattened scenario and reads its head line. */
static FILE *open_scenario(const char *path, scenario_head_t *h) {
  FILE *in = fopen(path, "r");
  if (!in) die(path);
  char *line = NULL;
  size_t cap = 0;
  if (getline(&line, &cap, in) <= 0) die("empty scenario");
  line[strcspn(line, "\n")] = 0;
  parse_head(line, h);
  free(line);
  return in;
}

static void run_file(const char *mode, const target_t *t, const char *out_dir, const char *path) {
  const char *base = strrchr(path, '/');
  base = base ? base + 1 : path;
  size_t stem = strlen(base) - strlen(".tsv");
  if (strstr(base, ".write.tsv")) return; /* read with its scenario */
  str_t scenario = {0}, out_path = {0}, store = {0};
  str_add(&scenario, base, stem);
  scenario_head_t h;
  FILE *in = open_scenario(path, &h);
  if (!strcmp(mode, "write")) {
    if (!strcmp(h.writer, "c") && t->backend) {
      str_t write_path = {0};
      str_add(&write_path, path, strlen(path) - strlen(".tsv"));
      str_cat(&write_path, ".write.tsv");
      str_cat(&out_path, out_dir);
      str_cat(&out_path, "/");
      str_cat(&out_path, scenario.s);
      str_cat(&out_path, ".write.txt");
      for (size_t i = 0; i < sizeof LANGS / sizeof *LANGS; i++) {
        scenario_head_t wh;
        FILE *w = open_scenario(write_path.s, &wh);
        store.len = 0;
        str_cat(&store, "cross.");
        str_cat(&store, scenario.s);
        str_cat(&store, ".");
        str_cat(&store, LANGS[i]);
        replay(t, store.s, &wh, w, out_path.s);
        fclose(w);
      }
      free(write_path.s);
    }
  } else if (!(h.durable && !t->backend)) { /* durable: not applicable in memory */
    str_cat(&store, strcmp(h.writer, "-") ? "cross." : "c.");
    str_cat(&store, scenario.s);
    if (strcmp(h.writer, "-")) str_cat(&store, ".c");
    str_cat(&out_path, out_dir);
    str_cat(&out_path, "/");
    str_cat(&out_path, scenario.s);
    str_cat(&out_path, ".txt");
    replay(t, store.s, &h, in, out_path.s);
  }
  fclose(in);
  free(scenario.s);
  free(out_path.s);
  free(store.s);
}

int main(int argc, char **argv) {
  target_t t = {NULL, "", "fsync"};
  const char *mode = argc > 1 ? argv[1] : "";
  int i = 2;
  for (; i + 1 < argc && !strncmp(argv[i], "--", 2); i += 2) {
    if (!strcmp(argv[i], "--backend")) t.backend = argv[i + 1];
    else if (!strcmp(argv[i], "--at")) t.at = argv[i + 1];
    else if (!strcmp(argv[i], "--durability")) t.durability = argv[i + 1];
    else break;
  }
  if (t.backend && !strcmp(t.backend, "memory")) t.backend = NULL;
  if ((strcmp(mode, "run") && strcmp(mode, "write")) || argc - i < 2) {
    fprintf(stderr,
            "usage: %s run|write [--backend B --at LOCATION [--durability D]] OUT_DIR SCENARIO.tsv...\n",
            argv[0]);
    return 2;
  }
  const char *out_dir = argv[i++];
  for (; i < argc && !not_run_reason; i++) run_file(mode, &t, out_dir, argv[i]);
  if (not_run_reason) {
    str_t path = {0};
    str_cat(&path, out_dir);
    str_cat(&path, "/NOT-RUN");
    FILE *f = fopen(path.s, "w");
    if (!f) die(path.s);
    fprintf(f, "c on %s: %s\n", t.backend, not_run_reason);
    fclose(f);
    fprintf(stderr, "parity-c: NOT RUN: c on %s: %s\n", t.backend, not_run_reason);
    free(path.s);
  }
  return 0;
}
