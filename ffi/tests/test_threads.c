/*
 * Several threads on one handle at once: writers doing put / get / remove
 * on their own keys (each checks it reads back what it wrote), a scanner
 * running full cursor scans (every key present for the whole scan must be
 * returned), observers counting every event and calling back into the
 * handle, a subscription cancelled while writers run (its callback must
 * never run after storage_unsubscribe returned), the thread-local last
 * error message, two callbacks that cancel each other from two threads
 * (which deadlocked when storage_unsubscribe waited inside a callback), and
 * a callback that writes on every event (which overflowed the stack when
 * deliveries nested).
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

#define WRITERS 4
#define OPS 1500
#define KEYS_PER_WRITER 40
#define STABLE 200

struct shared {
  storage_t *s;
  pthread_mutex_t lock;
  long events[10];           /* by storage_event_kind_t */
  long reentry_failures;     /* callback's own call into the handle failed */
  long late_calls;           /* calls of the cancelled subscription after unsubscribe */
  long cancelled_calls;      /* calls of the subscription that gets cancelled */
  int unsubscribed;
  int writers_done;
  pthread_barrier_t errors_barrier;
};

struct writer {
  struct shared *sh;
  int id;
  long puts, updates, removes, failures;
  int present[KEYS_PER_WRITER];
  char message[128];
};

struct scanner {
  struct shared *sh;
  long scans, failures;
};

static size_t lww(int value, uint8_t *buf, size_t cap) {
  char json[256];
  size_t len = 0;
  snprintf(json, sizeof json,
           "{\"value\":%d,\"timestamp\":{\"millis\":1,\"counter\":0,\"nodeId\":\"n1\"}}", value);
  if (storage_value_json_to_msgpack(json, strlen(json), buf, cap, &len) != STORAGE_OK) abort();
  return len;
}

static void counting_callback(const storage_event_t *e, void *user_data) {
  struct shared *sh = user_data;
  storage_status_t inner = STORAGE_OK;
  /* Re-entrant call: the record a put or update reports is live until
   * its writer (this thread) changes it again. */
  if ((e->kind == STORAGE_EVENT_PUT || e->kind == STORAGE_EVENT_UPDATE) && e->key_len > 0 &&
      e->key[0] == 'w') {
    inner = storage_contains_key(sh->s, e->key, e->key_len);
  }
  pthread_mutex_lock(&sh->lock);
  if ((int)e->kind >= 0 && (int)e->kind < 10) sh->events[e->kind]++;
  if (inner != STORAGE_OK) sh->reentry_failures++;
  pthread_mutex_unlock(&sh->lock);
}

static void cancelled_callback(const storage_event_t *e, void *user_data) {
  struct shared *sh = user_data;
  (void)e;
  pthread_mutex_lock(&sh->lock);
  if (sh->unsubscribed) sh->late_calls++;
  sh->cancelled_calls++;
  pthread_mutex_unlock(&sh->lock);
}

static void *writer_main(void *arg) {
  struct writer *w = arg;
  storage_t *s = w->sh->s;
  uint8_t value[256], out[256];
  char key[32], expect[64], json[256];
  int j;
  size_t len = 0;

  /* Thread-local last error: each writer fails differently, then (after all
   * have failed) reads back its own message. */
  if (w->id % 2 == 0) {
    if (storage_len(s, NULL) != STORAGE_NULL_POINTER) w->failures++;
  } else {
    if (storage_get(s, NULL, 0, out, sizeof out, &len) != STORAGE_NULL_POINTER) w->failures++;
  }
  pthread_barrier_wait(&w->sh->errors_barrier);
  if (storage_last_error_message(w->message, sizeof w->message, &len) != STORAGE_OK) {
    w->failures++;
  }

  for (j = 0; j < OPS; j++) {
    int k = (j * 7 + w->id) % KEYS_PER_WRITER;
    size_t vlen = lww(j, value, sizeof value);
    storage_status_t st;
    snprintf(key, sizeof key, "w%d-%d", w->id, k);
    st = storage_put(s, key, strlen(key), value, vlen, 0, 0);
    if (st != STORAGE_OK) {
      w->failures++;
      continue;
    }
    if (w->present[k]) w->updates++; else w->puts++;
    w->present[k] = 1;
    /* Read back what this thread wrote (nobody else writes its keys). */
    st = storage_get(s, key, strlen(key), out, sizeof out, &len);
    if (st != STORAGE_OK || len != vlen || memcmp(out, value, vlen) != 0) w->failures++;
    snprintf(expect, sizeof expect, "\"value\":%d,", j);
    if (storage_get_json(s, key, strlen(key), json, sizeof json, &len) != STORAGE_OK ||
        strstr(json, expect) == NULL) {
      w->failures++;
    }
    if (j % 3 == 0) {
      if (storage_remove(s, key, strlen(key)) != STORAGE_OK) w->failures++;
      w->removes++;
      w->present[k] = 0;
      if (storage_get(s, key, strlen(key), out, sizeof out, &len) != STORAGE_NOT_FOUND) {
        w->failures++;
      }
    }
  }
  return NULL;
}

static int writers_done(struct shared *sh) {
  int done;
  pthread_mutex_lock(&sh->lock);
  done = sh->writers_done;
  pthread_mutex_unlock(&sh->lock);
  return done;
}

static void *scanner_main(void *arg) {
  struct scanner *sc = arg;
  storage_t *s = sc->sh->s;
  uint8_t buf[300]; /* a few dozen keys per page at most */
  int finished_once = 0;
  while (!finished_once || !writers_done(sc->sh)) {
    uint8_t cursor[STORAGE_CURSOR_SIZE];
    int seen[STABLE];
    bool finished = false;
    int i, calls = 0;
    memset(cursor, 0, sizeof cursor);
    memset(seen, 0, sizeof seen);
    while (!finished) {
      size_t len = 0, count = 0, offset = 0, item_len = 0;
      const uint8_t *item = NULL;
      if (storage_fetch_keys(s, cursor, 16, buf, sizeof buf, &len, &count, &finished) !=
              STORAGE_OK ||
          ++calls > 100000) {
        sc->failures++;
        return NULL;
      }
      while (storage_page_next(buf, len, &offset, &item, &item_len) == STORAGE_OK) {
        if (item_len > 7 && memcmp(item, "stable-", 7) == 0) {
          char num[16];
          size_t n = item_len - 7 < 15 ? item_len - 7 : 15;
          memcpy(num, item + 7, n);
          num[n] = '\0';
          i = atoi(num);
          if (i >= 0 && i < STABLE) seen[i]++;
        } else if (item_len < 2 || item[0] != 'w') {
          sc->failures++; /* a key nobody ever wrote */
        }
      }
    }
    /* Stable keys were present for the whole scan: each must come at least
     * once (twice is allowed, as other keys are removed meanwhile). */
    for (i = 0; i < STABLE; i++) {
      if (seen[i] < 1) sc->failures++;
    }
    sc->scans++;
    finished_once = 1;
  }
  return NULL;
}

static void test_concurrent_writers_scanner_and_observers(void) {
  struct shared sh;
  struct writer writers[WRITERS];
  struct scanner sc;
  pthread_t threads[WRITERS], scan_thread;
  uint64_t counting_id = 0, cancelled_id = 0;
  long puts = STABLE, updates = 0, removes = 0, present = 0;
  storage_stats_t st;
  size_t len = 0;
  int i, k;
  uint8_t value[256];

  memset(&sh, 0, sizeof sh);
  pthread_mutex_init(&sh.lock, NULL);
  pthread_barrier_init(&sh.errors_barrier, NULL, WRITERS);
  REQUIRE(storage_new(&sh.s) == STORAGE_OK);
  for (i = 0; i < STABLE; i++) {
    char key[32];
    size_t vlen = lww(i, value, sizeof value);
    snprintf(key, sizeof key, "stable-%d", i);
    CHECK_STATUS(storage_put(sh.s, key, strlen(key), value, vlen, 0, 0), STORAGE_OK);
  }
  CHECK_STATUS(storage_subscribe(sh.s, counting_callback, &sh, &counting_id), STORAGE_OK);
  CHECK_STATUS(storage_subscribe(sh.s, cancelled_callback, &sh, &cancelled_id), STORAGE_OK);

  memset(writers, 0, sizeof writers);
  memset(&sc, 0, sizeof sc);
  sc.sh = &sh;
  REQUIRE(pthread_create(&scan_thread, NULL, scanner_main, &sc) == 0);
  for (i = 0; i < WRITERS; i++) {
    writers[i].sh = &sh;
    writers[i].id = i;
    REQUIRE(pthread_create(&threads[i], NULL, writer_main, &writers[i]) == 0);
  }

  /* Cancel the second subscription while the writers run: wait until it has
   * seen some events (or the writers are all but done), then unsubscribe. */
  for (k = 0; k < 100000000; k++) {
    long calls;
    pthread_mutex_lock(&sh.lock);
    calls = sh.cancelled_calls;
    pthread_mutex_unlock(&sh.lock);
    if (calls >= 200) break;
    sched_yield();
  }
  CHECK_STATUS(storage_unsubscribe(sh.s, cancelled_id), STORAGE_OK);
  pthread_mutex_lock(&sh.lock);
  sh.unsubscribed = 1;
  pthread_mutex_unlock(&sh.lock);

  for (i = 0; i < WRITERS; i++) pthread_join(threads[i], NULL);
  pthread_mutex_lock(&sh.lock);
  sh.writers_done = 1;
  pthread_mutex_unlock(&sh.lock);
  pthread_join(scan_thread, NULL);

  for (i = 0; i < WRITERS; i++) {
    CHECK(writers[i].failures == 0);
    CHECK(strcmp(writers[i].message, i % 2 == 0 ? "`out_len` is NULL" : "`key` is NULL") == 0);
    puts += writers[i].puts;
    updates += writers[i].updates;
    removes += writers[i].removes;
    for (k = 0; k < KEYS_PER_WRITER; k++) present += writers[i].present[k];
  }
  CHECK(sc.failures == 0);
  CHECK(sc.scans >= 1);
  CHECK(sh.reentry_failures == 0);
  CHECK(sh.late_calls == 0);
  CHECK(sh.cancelled_calls >= 200);
  /* Every change reached the observer exactly once; the first STABLE puts
   * happened before it subscribed. */
  CHECK(sh.events[STORAGE_EVENT_PUT] == puts - STABLE);
  CHECK(sh.events[STORAGE_EVENT_UPDATE] == updates);
  CHECK(sh.events[STORAGE_EVENT_REMOVE] == removes);
  CHECK(sh.events[STORAGE_EVENT_EVICT] == 0 && sh.events[STORAGE_EVENT_EXPIRE] == 0);
  CHECK_STATUS(storage_stats(sh.s, &st), STORAGE_OK);
  CHECK(st.puts == (uint64_t)puts);
  CHECK(st.updates == (uint64_t)updates);
  CHECK(st.removes == (uint64_t)removes);
  CHECK(st.misses == (uint64_t)removes); /* the reads after each remove */
  CHECK_STATUS(storage_len(sh.s, &len), STORAGE_OK);
  CHECK(len == (size_t)(STABLE + present));
  CHECK(st.entry_count == (uint64_t)(STABLE + present));
  printf("     %d writers x %d ops, %ld scans, %ld events observed\n", WRITERS, OPS, sc.scans,
         sh.events[STORAGE_EVENT_PUT] + sh.events[STORAGE_EVENT_UPDATE] +
             sh.events[STORAGE_EVENT_REMOVE]);

  CHECK_STATUS(storage_unsubscribe(sh.s, counting_id), STORAGE_OK);
  storage_free(sh.s);
  pthread_barrier_destroy(&sh.errors_barrier);
  pthread_mutex_destroy(&sh.lock);
}

struct reader_args {
  storage_t *s;
  long failures;
};

/* Readers share one handle with a thread that clears it: every read is a
 * clean hit or miss, never a torn value. */
static void *reader_main(void *arg) {
  struct reader_args *r = arg;
  uint8_t buf[256];
  int j;
  for (j = 0; j < 3000; j++) {
    size_t len = 0;
    storage_status_t st = storage_get(r->s, "shared", 6, buf, sizeof buf, &len);
    if (st == STORAGE_OK) {
      char json[256];
      size_t n = 0;
      if (storage_value_msgpack_to_json(buf, len, json, sizeof json, &n) != STORAGE_OK) {
        r->failures++;
      }
    } else if (st != STORAGE_NOT_FOUND) {
      r->failures++;
    }
  }
  return NULL;
}

static void test_readers_against_clear(void) {
  storage_t *s = NULL;
  struct reader_args args[3];
  pthread_t threads[3];
  uint8_t value[256];
  int i, j;
  REQUIRE(storage_new(&s) == STORAGE_OK);
  memset(args, 0, sizeof args);
  for (i = 0; i < 3; i++) {
    args[i].s = s;
    REQUIRE(pthread_create(&threads[i], NULL, reader_main, &args[i]) == 0);
  }
  for (j = 0; j < 2000; j++) {
    size_t vlen = lww(j, value, sizeof value);
    CHECK_STATUS(storage_put(s, "shared", 6, value, vlen, 0, 0), STORAGE_OK);
    if (j % 5 == 0) CHECK_STATUS(storage_clear(s, NULL), STORAGE_OK);
  }
  for (i = 0; i < 3; i++) {
    pthread_join(threads[i], NULL);
    CHECK(args[i].failures == 0);
  }
  storage_free(s);
}

/* Eviction NONE: the bounds are exact with any number of writers (issue 10,
 * item 5). Before, the capacity check and the insert were separate steps:
 * max_entries = 2 and 4 threads each putting 4 new keys ended with 3
 * entries in about a fifth of the rounds; max_cost likewise. */
#define BOUND_THREADS 4
#define BOUND_KEYS 4
#define BOUND_ROUNDS 500

struct bound_writer {
  storage_t *s;
  pthread_barrier_t *start;
  int id;
  int accepted;
  long failures;
};

static void *bound_writer_main(void *arg) {
  struct bound_writer *w = arg;
  uint8_t value[256];
  size_t vlen = lww(1, value, sizeof value);
  char key[32];
  int k;
  pthread_barrier_wait(w->start);
  for (k = 0; k < BOUND_KEYS; k++) {
    storage_status_t st;
    snprintf(key, sizeof key, "t%dk%d", w->id, k);
    st = storage_put(w->s, key, strlen(key), value, vlen, 0, 0);
    if (st == STORAGE_OK) w->accepted++;
    else if (st != STORAGE_CAPACITY_EXCEEDED) w->failures++;
  }
  return NULL;
}

/* ------------------------------------ callbacks that cancel each other */

/* Rounds of the mutual-cancel test; each deadlocked before the fix, as the
 * rendezvous below puts both callbacks inside at once. */
#define CANCEL_ROUNDS 200
/* Yields a callback waits for the other one to enter (bounded, so a round
 * where one thread is late still ends). */
#define RENDEZVOUS_SPINS 20000

struct canceller {
  storage_t *s;
  const char *key;          /* the callback acts on this key's events only */
  uint64_t id;              /* this subscription */
  struct canceller *other;  /* the subscription it cancels */
  int *entered;             /* callbacks inside, shared by both */
  int running;              /* calls of this callback running now */
  int calls;                /* calls of this callback that acted */
  storage_status_t status;  /* what its storage_unsubscribe returned */
  int late;                 /* calls after the round ended */
  int done;                 /* set when the round is over */
};

static void cancelling_callback(const storage_event_t *e, void *user_data) {
  struct canceller *c = user_data;
  int spins;
  if (__atomic_load_n(&c->done, __ATOMIC_SEQ_CST)) __atomic_add_fetch(&c->late, 1, __ATOMIC_SEQ_CST);
  if (e->kind != STORAGE_EVENT_PUT || e->key_len != strlen(c->key) ||
      memcmp(e->key, c->key, e->key_len) != 0) {
    return;
  }
  __atomic_add_fetch(&c->running, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(&c->calls, 1, __ATOMIC_SEQ_CST);
  __atomic_add_fetch(c->entered, 1, __ATOMIC_SEQ_CST);
  for (spins = 0; spins < RENDEZVOUS_SPINS && __atomic_load_n(c->entered, __ATOMIC_SEQ_CST) < 2;
       spins++) {
    sched_yield();
  }
  /* Both callbacks are inside now (in almost every round): each cancels
   * the other, which is running on the other thread. */
  c->status = storage_unsubscribe(c->s, c->other->id);
  /* Stay a little, so the other thread's put would return first if its
   * deferred wait did not wait for this call. */
  for (spins = 0; spins < 50; spins++) sched_yield();
  __atomic_sub_fetch(&c->running, 1, __ATOMIC_SEQ_CST);
}

struct cancel_thread {
  struct canceller *c;
  pthread_barrier_t *start;
  storage_status_t put;
  int other_running_after; /* the cancelled callback ran after our put returned */
};

static void *cancel_thread_main(void *arg) {
  struct cancel_thread *t = arg;
  uint8_t value[64];
  size_t vlen = lww(1, value, sizeof value);
  pthread_barrier_wait(t->start);
  t->put = storage_put(t->c->s, t->c->key, strlen(t->c->key), value, vlen, 0, 0);
  /* This put ran our callback, which cancelled the other subscription:
   * once the put returned, the other callback runs nowhere. */
  if (t->c->status == STORAGE_OK) {
    t->other_running_after = __atomic_load_n(&t->c->other->running, __ATOMIC_SEQ_CST);
  }
  return NULL;
}

static void test_no_eviction_bounds_exact_under_concurrency(void) {
  uint8_t value[256];
  size_t vlen = lww(1, value, sizeof value);
  int bound, round, over = 0;
  for (bound = 0; bound < 2; bound++) {
    for (round = 0; round < BOUND_ROUNDS; round++) {
      storage_options_t o;
      storage_t *s = NULL;
      pthread_barrier_t start;
      pthread_t threads[BOUND_THREADS];
      struct bound_writer w[BOUND_THREADS];
      size_t len = 0;
      uint64_t cost = 0;
      int i, accepted = 0;
      memset(&o, 0, sizeof o);
      o.struct_size = sizeof o;
      o.eviction_policy = STORAGE_EVICTION_NONE;
      if (bound == 0) o.max_entries = 2;
      else o.max_cost = 2 * (uint64_t)(4 + vlen); /* two entries "tNkN" */
      REQUIRE(storage_new_with_options(&o, &s) == STORAGE_OK);
      REQUIRE(pthread_barrier_init(&start, NULL, BOUND_THREADS) == 0);
      memset(w, 0, sizeof w);
      for (i = 0; i < BOUND_THREADS; i++) {
        w[i].s = s;
        w[i].start = &start;
        w[i].id = i;
        REQUIRE(pthread_create(&threads[i], NULL, bound_writer_main, &w[i]) == 0);
      }
      for (i = 0; i < BOUND_THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(w[i].failures == 0);
        accepted += w[i].accepted;
      }
      CHECK_STATUS(storage_len(s, &len), STORAGE_OK);
      CHECK_STATUS(storage_estimated_cost(s, &cost), STORAGE_OK);
      if (len != 2 || accepted != 2 || (bound == 1 && cost > o.max_cost)) over++;
      storage_free(s);
      pthread_barrier_destroy(&start);
    }
  }
  if (over > 0) fprintf(stderr, "  %d of %d rounds broke the bound\n", over, 2 * BOUND_ROUNDS);
  CHECK(over == 0);
  printf("     %d rounds of %d writers x %d new keys, max_entries and max_cost\n",
         2 * BOUND_ROUNDS, BOUND_THREADS, BOUND_KEYS);
}

static void test_callbacks_cancelling_each_other_on_two_threads(void) {
  int round, both_inside = 0, failures = 0;
  /* A deadlock ends the process (SIGALRM) instead of hanging the suite. */
  alarm(300);
  for (round = 0; round < CANCEL_ROUNDS; round++) {
    storage_t *s = NULL;
    int entered = 0, i;
    struct canceller a, b;
    struct cancel_thread ta, tb;
    pthread_t threads[2];
    pthread_barrier_t start;
    uint8_t value[64];
    size_t vlen = lww(2, value, sizeof value);
    REQUIRE(storage_new(&s) == STORAGE_OK);
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    a.s = b.s = s;
    a.key = "a";
    b.key = "b";
    a.other = &b;
    b.other = &a;
    a.entered = b.entered = &entered;
    a.status = b.status = STORAGE_PANIC;
    CHECK_STATUS(storage_subscribe(s, cancelling_callback, &a, &a.id), STORAGE_OK);
    CHECK_STATUS(storage_subscribe(s, cancelling_callback, &b, &b.id), STORAGE_OK);
    REQUIRE(pthread_barrier_init(&start, NULL, 2) == 0);
    ta.c = &a;
    tb.c = &b;
    ta.start = tb.start = &start;
    ta.other_running_after = tb.other_running_after = 0;
    REQUIRE(pthread_create(&threads[0], NULL, cancel_thread_main, &ta) == 0);
    REQUIRE(pthread_create(&threads[1], NULL, cancel_thread_main, &tb) == 0);
    for (i = 0; i < 2; i++) pthread_join(threads[i], NULL);
    pthread_barrier_destroy(&start);
    if (entered == 2) both_inside++;
    if (ta.put != STORAGE_OK || tb.put != STORAGE_OK) failures++;
    /* Each cancel found its subscription (OK), or the other callback never
     * got to act because it was cancelled first (then it did not run). */
    if (!(a.status == STORAGE_OK || a.calls == 0)) failures++;
    if (!(b.status == STORAGE_OK || b.calls == 0)) failures++;
    if (ta.other_running_after != 0 || tb.other_running_after != 0) failures++;
    /* A subscription whose canceller never acted is cancelled here. */
    if (b.status != STORAGE_OK) CHECK_STATUS(storage_unsubscribe(s, a.id), STORAGE_OK);
    if (a.status != STORAGE_OK) CHECK_STATUS(storage_unsubscribe(s, b.id), STORAGE_OK);
    /* Both are cancelled now: no call starts any more. */
    __atomic_store_n(&a.done, 1, __ATOMIC_SEQ_CST);
    __atomic_store_n(&b.done, 1, __ATOMIC_SEQ_CST);
    CHECK_STATUS(storage_put(s, "a", 1, value, vlen, 0, 0), STORAGE_OK);
    CHECK_STATUS(storage_put(s, "b", 1, value, vlen, 0, 0), STORAGE_OK);
    if (a.late != 0 || b.late != 0) failures++;
    CHECK_STATUS(storage_unsubscribe(s, a.id), STORAGE_NOT_FOUND);
    CHECK_STATUS(storage_unsubscribe(s, b.id), STORAGE_NOT_FOUND);
    storage_free(s);
  }
  alarm(0);
  printf("     %d rounds, both callbacks inside at once in %d\n", CANCEL_ROUNDS, both_inside);
  CHECK(failures == 0);
  /* The test means something only if the callbacks met. */
  CHECK(both_inside > CANCEL_ROUNDS / 2);
}

/* --------------------------------- a callback that writes on every event */

/* Links of the chain: with nested deliveries, each took a few KiB of stack,
 * far more than the 256 KiB thread below has. */
#define CHAIN 20000

struct chain {
  storage_t *s;
  long calls;
  int depth, deepest;
  long inner_failures;       /* a nested put that did not return OK */
  storage_status_t bad_put;  /* a nested call that fails reports it */
  int bad_message_ok;
};

static void chain_callback(const storage_event_t *e, void *user_data) {
  struct chain *c = user_data;
  char key[32];
  long i;
  if (e->kind != STORAGE_EVENT_PUT) return;
  c->calls++;
  if (++c->depth > c->deepest) c->deepest = c->depth;
  snprintf(key, sizeof key, "%.*s", (int)e->key_len, e->key);
  i = strtol(key + 1, NULL, 10);
  if (i < CHAIN) {
    uint8_t value[64];
    size_t vlen = lww((int)i, value, sizeof value);
    snprintf(key, sizeof key, "k%ld", i + 1);
    if (storage_put(c->s, key, strlen(key), value, vlen, 0, 0) != STORAGE_OK) c->inner_failures++;
  } else {
    /* Errors of calls made inside a callback reach the callback: the
     * status and this thread's last error message. */
    static const uint8_t not_a_record[1] = {0xc1};
    c->bad_put = storage_put(c->s, "bad", 3, not_a_record, 1, 0, 0);
    c->bad_message_ok = strlen(last_error()) > 0;
  }
  c->depth--;
}

static void *chain_main(void *arg) {
  struct chain *c = arg;
  uint8_t value[64];
  size_t vlen = lww(0, value, sizeof value);
  if (storage_put(c->s, "k0", 2, value, vlen, 0, 0) != STORAGE_OK) c->inner_failures++;
  return NULL;
}

static void test_a_callback_writing_on_every_event_uses_constant_stack(void) {
  struct chain c;
  pthread_t thread;
  pthread_attr_t attr;
  uint64_t id = 0;
  size_t len = 0;
  memset(&c, 0, sizeof c);
  c.bad_put = STORAGE_OK;
  REQUIRE(storage_new(&c.s) == STORAGE_OK);
  CHECK_STATUS(storage_subscribe(c.s, chain_callback, &c, &id), STORAGE_OK);
  REQUIRE(pthread_attr_init(&attr) == 0);
  REQUIRE(pthread_attr_setstacksize(&attr, 256 * 1024) == 0);
  REQUIRE(pthread_create(&thread, &attr, chain_main, &c) == 0);
  pthread_join(thread, NULL);
  pthread_attr_destroy(&attr);
  CHECK(c.calls == CHAIN + 1);
  CHECK(c.deepest == 1);
  CHECK(c.inner_failures == 0);
  CHECK(c.bad_put != STORAGE_OK);
  CHECK(c.bad_message_ok);
  CHECK_STATUS(storage_len(c.s, &len), STORAGE_OK);
  CHECK(len == CHAIN + 1);
  storage_free(c.s);
}

int main(void) {
  printf("topgun_storage multi-threaded tests (library %s)\n", storage_version());
  RUN(test_concurrent_writers_scanner_and_observers);
  RUN(test_readers_against_clear);
  RUN(test_no_eviction_bounds_exact_under_concurrency);
  RUN(test_callbacks_cancelling_each_other_on_two_threads);
  RUN(test_a_callback_writing_on_every_event_uses_constant_stack);
  return harness_finish();
}
