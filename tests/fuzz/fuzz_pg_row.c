/* tests/fuzz/fuzz_pg_row.c -- a Postgres lock row, its columns as text,
 * into lock info (lc__pg_info_from_values in backends/postgres/).
 *
 * Input: the row as COPY's text format writes it: columns separated by
 * tabs, \N for NULL; missing columns are NULL. Properties: any text
 * decodes without crashing, leaking or overflowing; the name and owner
 * are NUL-terminated; a lock not held has no expiry and no held-for. */
#include "fuzz.h"

#include "backends/postgres/pg_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *row = fuzz_cstr(data, size);
    const char *v[LC__PG_INFO_COLUMNS] = {NULL};
    char *p = row;
    for (int col = 0; col < LC__PG_INFO_COLUMNS && p; col++) {
        char *tab = strchr(p, '\t');
        if (tab)
            *tab = '\0';
        v[col] = strcmp(p, "\\N") == 0 ? NULL : p;
        p = tab ? tab + 1 : NULL;
    }
    lc_lock_info info;
    lc_error err;
    lc_status rc = lc__pg_info_from_values(v, &info, &err);
    FUZZ_CHECK(rc == LC_OK);
    FUZZ_CHECK(memchr(info.name, '\0', sizeof(info.name)) != NULL);
    FUZZ_CHECK(memchr(info.owner, '\0', sizeof(info.owner)) != NULL);
    if (!info.held)
        FUZZ_CHECK(info.expires_in_ms == -1 && info.held_for_ms == -1);
    FUZZ_CHECK((info.checkpoint != NULL) == (v[12] != NULL));
    FUZZ_CHECK(info.paused ? info.paused_reason != NULL : info.paused_reason == NULL);
    FUZZ_CHECK(memchr(info.paused_by, '\0', sizeof(info.paused_by)) != NULL);
    lc_lock_info_clear(&info);
    free(row);
    return 0;
}
