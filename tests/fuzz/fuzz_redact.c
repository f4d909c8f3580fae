/* tests/fuzz/fuzz_redact.c -- the redactors (config/redact.c) on any
 * text: URLs, libpq conninfo strings and messages quoting them.
 *
 * Input: "SOURCE\nMESSAGE" (no newline: the source is the message too).
 * Properties:
 *  - every output is NUL-terminated within its buffer, whatever its size;
 *  - the password libpq reads from SOURCE (4 bytes or more, no '*'; in a
 *    build with Postgres) is in no redacted message that had SOURCE as
 *    its source, and lc__redact_conninfo masks it where it stands. */
#include "fuzz.h"

#include "config/redact_int.h"

#ifdef LC_HAVE_POSTGRES
#include <libpq-fe.h>
#endif

/* Occurrences of needle in hay, overlapping ones included. */
static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* The password as libpq reads the conninfo, malloc'd, or NULL. */
static char *libpq_password(const char *conninfo)
{
#ifndef LC_HAVE_POSTGRES
    (void)conninfo;
    return NULL;
#else
    char *errmsg = NULL;
    PQconninfoOption *opts = PQconninfoParse(conninfo, &errmsg);
    PQfreemem(errmsg);
    char *pw = NULL;
    for (PQconninfoOption *o = opts; o && o->keyword; o++)
        if (strcmp(o->keyword, "password") == 0 && o->val)
            pw = strdup(o->val);
    PQconninfoFree(opts);
    return pw;
#endif
}

static int has_alnum(const char *s)
{
    for (; *s; s++)
        if ((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9'))
            return 1;
    return 0;
}

static void check_msg(const char *source, const char *text, size_t size, const char *pw)
{
    char *msg = malloc(size ? size : 1);
    FUZZ_CHECK(msg != NULL);
    if (size)
        snprintf(msg, size, "%s", text);
    lc__redact_msg(msg, size, source);
    if (size == 0) {
        free(msg);
        return;
    }
    FUZZ_CHECK(memchr(msg, '\0', size) != NULL);
    if (pw && strlen(text) < size)
        FUZZ_CHECK(strstr(msg, pw) == NULL);
    free(msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *source = fuzz_cstr(data, size);
    char *nl = strchr(source, '\n');
    const char *text = source;
    if (nl) {
        *nl = '\0';
        text = nl + 1;
    }
    char *pw = libpq_password(source);
    /* A password of punctuation alone (":::::") cannot be told from the
     * separators around it: the properties speak of real ones. */
    if (pw && (strlen(pw) < 4 || strchr(pw, '*') || !has_alnum(pw))) {
        free(pw);
        pw = NULL;
    }

    char *url = lc__redact_url(source);
    char *conninfo = lc__redact_conninfo(source);
    FUZZ_CHECK(url != NULL && conninfo != NULL);
    /* Where nothing is decoded or unquoted, the password libpq read
     * stands in the source as written, and that spot is masked: fewer
     * occurrences are left (it may stand elsewhere too). */
    if (pw && !strpbrk(source, "%'\\") && count(source, pw) > 0)
        FUZZ_CHECK(count(conninfo, pw) < count(source, pw));
    free(url);
    free(conninfo);

    size_t len = strlen(text);
    check_msg(source, text, len * 4 + 64, pw);
    check_msg(source, text, len + 1, pw); /* exactly fits: taken as cut */
    check_msg(source, text, (size_t)data[0] % 48, NULL);
    free(pw);
    free(source);
    return 0;
}
