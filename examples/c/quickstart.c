/* Build: cc quickstart.c $(pkg-config --cflags --libs topgun_storage) */
#include <stdio.h>
#include <string.h>
#include <topgun_storage.h>

int main(void) {
  const char *user = "{\"value\":{\"name\":\"Ada\"},"
                     "\"timestamp\":{\"millis\":1700000000000,\"counter\":0,\"nodeId\":\"n1\"}}";
  char json[256];
  size_t len = 0;
  storage_t *store = NULL;
  if (storage_new(&store) != STORAGE_OK) return 1;
  storage_status_t st = storage_put_json(store, "user:1", 6, user, strlen(user), 0, 0);
  if (st == STORAGE_OK) st = storage_get_json(store, "user:1", 6, json, sizeof json, &len);
  if (st == STORAGE_OK) {
    printf("user:1 = %s\n", json);
  } else {
    storage_last_error_message(json, sizeof json, &len);
    fprintf(stderr, "%s: %s\n", storage_status_str(st), json);
  }
  printf("user:2: %s\n", storage_status_str(storage_contains_key(store, "user:2", 6)));
  storage_free(store);
  return st == STORAGE_OK ? 0 : 1;
}
