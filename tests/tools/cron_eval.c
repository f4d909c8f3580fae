/* tests/tools/cron_eval.c -- the cron module on the command line, for the
 * croniter oracle (tests/unit/cron_oracle.py).
 *
 * Reads lines "EXPR<TAB>UNIX_SECONDS" on stdin (the last tab separates:
 * EXPR may hold tabs) and answers each with one
 * line: "NEXT PREV" in unix seconds (the first fire time strictly after,
 * the latest at or before; -1 for none), or "error MESSAGE" when the
 * expression is refused. */
#include "sync/cron_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int64_t seconds(int64_t ms)
{
    return ms < 0 ? -1 : ms / 1000;
}

int main(void)
{
    char line[4096];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        line[strcspn(line, "\n")] = '\0';
        char *tab = strrchr(line, '\t');
        if (tab == NULL) {
            fprintf(stderr, "cron_eval: expected EXPR<TAB>UNIX_SECONDS, got '%s'\n", line);
            return 2;
        }
        *tab = '\0';
        long long at = strtoll(tab + 1, NULL, 10);
        int64_t at_ms = at > INT64_MAX / 1000   ? INT64_MAX
                        : at < INT64_MIN / 1000 ? INT64_MIN
                                                : (int64_t)at * 1000;
        lc__cron c;
        lc_error err;
        if (lc__cron_parse(line, &c, &err) != LC_OK) {
            printf("error %s\n", err.message);
            continue;
        }
        printf("%lld %lld\n", (long long)seconds(lc__cron_next(&c, at_ms)),
               (long long)seconds(lc__cron_prev(&c, at_ms)));
    }
    return fflush(stdout) == 0 ? 0 : 1;
}
