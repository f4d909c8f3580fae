/* tests/fuzz/fuzz_config.c -- the config loader: YAML bytes in
 * (lc_config_parse, the in-memory half of lc_config_load), and the dump.
 *
 * Properties: a load either succeeds or fails with LC_ERR_CONFIG and a
 * message; a loaded config dumps, and a dump with nothing redacted loads
 * again (as dump.c promises) and dumps to the same text. (A redacted
 * secret is "***" in place of text that may have held separators: in a
 * conninfo URI mangled enough, the rest may no longer parse. Whether a
 * secret can leak is the redact harness's property.) */
#include "fuzz.h"

#include "lockcoord.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    lc_config *cfg = NULL;
    lc_error err;
    lc_status rc = lc_config_parse((const char *)data, size, "fuzz.yaml", &cfg, &err);
    if (rc != LC_OK) {
        FUZZ_CHECK(rc == LC_ERR_CONFIG && cfg == NULL);
        FUZZ_CHECK(memchr(err.message, '\0', sizeof(err.message)) != NULL);
        return 0;
    }
    char *dump = lc_config_dump(cfg);
    FUZZ_CHECK(dump != NULL);
    if (strstr(dump, "***") != NULL) {
        free(dump);
        lc_config_free(cfg);
        return 0;
    }
    lc_config *again = NULL;
    rc = lc_config_parse(dump, strlen(dump), "dump.yaml", &again, &err);
    if (rc != LC_OK)
        fprintf(stderr, "the dump does not load again: %s\n--- dump ---\n%s\n", err.message, dump);
    FUZZ_CHECK(rc == LC_OK);
    char *dump2 = lc_config_dump(again);
    FUZZ_CHECK(dump2 != NULL);
    if (strcmp(dump, dump2) != 0)
        fprintf(stderr, "--- dump ---\n%s\n--- dump of the dump ---\n%s\n", dump, dump2);
    FUZZ_CHECK(strcmp(dump, dump2) == 0);
    free(dump2);
    lc_config_free(again);
    free(dump);
    lc_config_free(cfg);
    return 0;
}
