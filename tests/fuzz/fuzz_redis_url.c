/* tests/fuzz/fuzz_redis_url.c -- the redis.url parser
 * (backends/redis/url.c) and the redaction of what it parsed.
 *
 * Input: a URL. Properties:
 *  - a parsed address is whole: a host and port 1..65535, or a socket
 *    path; a user name only with a password; a NUL-terminated label;
 *  - the password the parser reads (4 bytes or more: shorter ones are masked
 *    only as whole tokens) is in no message the redactor has seen with
 *    the URL as its source, and lc__redact_url masks it where it stands;
 *  - the same URL with its password replaced by a known one never has
 *    that password in the parser's error message. */
#include "fuzz.h"

#include "backends/redis/redis_int.h"
#include "config/redact_int.h"

#define KNOWN_PW "Zq9xK7wPpL3v"

/* Occurrences of needle in hay, overlapping ones included. */
static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

static void check_parsed(const char *url, const lc__redis_addr *a)
{
    FUZZ_CHECK(memchr(a->label, '\0', sizeof(a->label)) != NULL);
    FUZZ_CHECK((a->host == NULL) != (a->path == NULL));
    if (a->host)
        FUZZ_CHECK(a->port >= 1 && a->port <= 65535);
    FUZZ_CHECK(a->user == NULL || a->password != NULL);
    FUZZ_CHECK(a->db >= 0);
    const char *pw = a->password;
    if (pw == NULL || strlen(pw) < 4 || strchr(pw, '*'))
        return;
    /* A message quoting the URL: no form of the password survives. */
    size_t size = strlen(url) * 4 + 64;
    char *msg = malloc(size);
    FUZZ_CHECK(msg != NULL);
    snprintf(msg, size, "redis %s: connect: refused", url);
    lc__redact_msg(msg, size, url);
    FUZZ_CHECK(strstr(msg, pw) == NULL);
    free(msg);
    /* The URL itself: the password (as written when nothing in the URL
     * is percent-encoded) is masked where it stands. */
    /* (Only for one URL: a second "://" inside makes where a password
     * stands ambiguous; the message property above holds regardless.) */
    const char *scheme_end = strstr(url, "://");
    size_t before = count(url, pw);
    if (before > 0 && strchr(url, '%') == NULL && scheme_end && !strstr(scheme_end + 3, "://")) {
        char *red = lc__redact_url(url);
        FUZZ_CHECK(red != NULL);
        FUZZ_CHECK(count(red, pw) < before);
        free(red);
    }
}

/* url with the text between the first ':' after "://" and the next '@'
 * replaced by KNOWN_PW; NULL when it has no such part. */
static char *with_known_password(const char *url)
{
    const char *auth = strstr(url, "://");
    if (auth == NULL)
        return NULL;
    auth += 3;
    size_t span = strcspn(auth, "/?#@");
    const char *at = auth[span] == '@' ? auth + span : NULL;
    const char *colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
    if (colon == NULL || strstr(url, KNOWN_PW))
        return NULL;
    size_t n = strlen(url) + sizeof(KNOWN_PW);
    char *out = malloc(n);
    FUZZ_CHECK(out != NULL);
    snprintf(out, n, "%.*s%s%s", (int)(colon + 1 - url), url, KNOWN_PW, at);
    return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = fuzz_cstr(data, size);
    lc__redis_addr a;
    lc_error err;
    lc_status rc = lc__redis_url_parse(url, &a, &err);
    FUZZ_CHECK(rc == LC_OK || rc == LC_ERR_CONFIG);
    if (rc == LC_OK)
        check_parsed(url, &a);
    lc__redis_addr_free(&a);

    char *known = with_known_password(url);
    if (known) {
        rc = lc__redis_url_parse(known, &a, &err);
        if (rc != LC_OK)
            FUZZ_CHECK(strstr(err.message, KNOWN_PW) == NULL);
        lc__redis_addr_free(&a);
        free(known);
    }
    free(url);
    return 0;
}
