/*
 * Loads a file with the real libconfig parser (the one ProxySQL embeds) and prints the parsed tree as JSON, every
 * scalar tagged with the type libconfig gave it, so a test can tell an int from a quoted int:
 *   {"int": 3306}  {"int64": "8589934592"}  {"float": 1.5}  {"bool": true}  {"string": "..."}
 * groups become objects, lists and arrays become arrays. On a parse error it prints "file:line: error" on stderr
 * and exits 1.
 *
 *   cc -o libconfig-check libconfig-check.c -lconfig && ./libconfig-check proxysql.cnf
 */
#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>

static void print_string(const char *s) {
  putchar('"');
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') printf("\\%c", *p);
    else if (*p < 0x20 || *p == 0x7f) printf("\\u%04x", *p);
    else putchar(*p);
  }
  putchar('"');
}

static void print_setting(const config_setting_t *s) {
  int n, i;
  switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
      putchar('{');
      n = config_setting_length(s);
      for (i = 0; i < n; i++) {
        const config_setting_t *child = config_setting_get_elem(s, i);
        if (i > 0) putchar(',');
        print_string(config_setting_name(child));
        putchar(':');
        print_setting(child);
      }
      putchar('}');
      break;
    case CONFIG_TYPE_LIST:
    case CONFIG_TYPE_ARRAY:
      putchar('[');
      n = config_setting_length(s);
      for (i = 0; i < n; i++) {
        if (i > 0) putchar(',');
        print_setting(config_setting_get_elem(s, i));
      }
      putchar(']');
      break;
    case CONFIG_TYPE_INT:
      printf("{\"int\":%d}", config_setting_get_int(s));
      break;
    case CONFIG_TYPE_INT64:
      printf("{\"int64\":\"%lld\"}", config_setting_get_int64(s));
      break;
    case CONFIG_TYPE_FLOAT:
      printf("{\"float\":%.17g}", config_setting_get_float(s));
      break;
    case CONFIG_TYPE_BOOL:
      printf("{\"bool\":%s}", config_setting_get_bool(s) ? "true" : "false");
      break;
    case CONFIG_TYPE_STRING:
      printf("{\"string\":");
      print_string(config_setting_get_string(s));
      putchar('}');
      break;
    default:
      printf("null");
  }
}

int main(int argc, char **argv) {
  config_t cfg;
  if (argc != 2) {
    fprintf(stderr, "usage: %s FILE\n", argv[0]);
    return 2;
  }
  config_init(&cfg);
  if (config_read_file(&cfg, argv[1]) != CONFIG_TRUE) {
    fprintf(stderr, "%s:%d: %s\n", config_error_file(&cfg) ? config_error_file(&cfg) : argv[1],
            config_error_line(&cfg), config_error_text(&cfg));
    config_destroy(&cfg);
    return 1;
  }
  print_setting(config_root_setting(&cfg));
  putchar('\n');
  config_destroy(&cfg);
  return 0;
}
