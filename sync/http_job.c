/* sync/http_job.c -- one attempt of an http job: the request built from the
 * job and the lease's values, one libcurl transfer on the multi interface
 * that a stop fd aborts, and the response judged (status, checkpoint) into
 * an outcome and an error text that is safe to record and to print.
 *
 * Every attempt has its own easy and multi handle: a job runs every few
 * minutes at most, so a fresh connection costs nothing that matters, and
 * nothing (a half-read response, a connection to an old address) carries
 * over from one attempt to the next. */
#include "sync/http_job_int.h"

#include "config/redact_int.h"
#include "core/error_int.h"
#include "core/strbuf_int.h"
#include "core/text_int.h"
#include "sync/curl_dl_int.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* The longest stretch curl_multi_poll sleeps; the stop fd and curl's own
 * timers wake it earlier. */
#define POLL_MAX_MS 1000

static const char *const reserved_headers[] = {"Lockcoord-Lock", "Lockcoord-Fence",
                                               "Idempotency-Key"};
static const int default_status[] = {200, 201, 202, 204};

/* ------------------------------------------------------------------------ */
/* A growing string                                                         */
/* ------------------------------------------------------------------------ */

/* Header lines and URLs may hold API keys: see buf_wipe. */
typedef lc__sb buf;

static void buf_str(buf *b, const char *s)
{
    lc__sb_add(b, s, strlen(s));
}

/* Header lines hold API keys: they are wiped before they are freed. */
static void buf_wipe(buf *b)
{
    if (b->p)
        explicit_bzero(b->p, b->cap);
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ------------------------------------------------------------------------ */
/* Placeholders                                                             */
/* ------------------------------------------------------------------------ */

typedef enum encoding {
    ENC_RAW,  /* header values: as they are */
    ENC_URL,  /* percent-encoded, every byte but the unreserved ones */
    ENC_JSON, /* the content of a JSON string */
} encoding;

/* The value of the placeholder named name[0..n), or NULL when there is no
 * such placeholder. */
static const char *var_value(const lc__http_vars *v, const char *name, size_t n, char *num,
                             size_t num_size)
{
    if (n == 10 && memcmp(name, "checkpoint", n) == 0)
        return v->checkpoint ? v->checkpoint : "";
    if (n == 5 && memcmp(name, "fence", n) == 0) {
        snprintf(num, num_size, "%" PRIu64, v->fence);
        return num;
    }
    if (n == 4 && memcmp(name, "lock", n) == 0)
        return v->lock;
    if (n == 4 && memcmp(name, "slot", n) == 0)
        return v->slot;
    return NULL;
}

static void add_encoded(buf *b, const char *s, encoding enc)
{
    size_t len = strlen(s);
    if (enc == ENC_RAW) {
        lc__sb_add(b, s, len);
    } else if (enc == ENC_URL) {
        char *q = len <= INT_MAX ? lc__curl.easy_escape(NULL, s, (int)len) : NULL;
        if (q == NULL)
            b->failed = 1;
        else
            buf_str(b, q);
        lc__curl.free(q);
    } else {
        /* cJSON writes the string with its quotes: keep what is between. */
        cJSON *str = cJSON_CreateString(s);
        char *json = str ? cJSON_PrintUnformatted(str) : NULL;
        size_t n = json ? strlen(json) : 0;
        if (n < 2)
            b->failed = 1;
        else
            lc__sb_add(b, json + 1, n - 2);
        cJSON_free(json);
        cJSON_Delete(str);
    }
}

/* Appends template t to b with every known {{name}} replaced by its value
 * in the given encoding. Anything else, unknown names included, is copied
 * as written. */
static void expand(buf *b, const char *t, const lc__http_vars *v, encoding enc)
{
    lc__sb_add(b, "", 0);
    for (;;) {
        const char *open = strstr(t, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (close == NULL) {
            buf_str(b, t);
            return;
        }
        char num[24];
        const char *val = var_value(v, open + 2, (size_t)(close - open - 2), num, sizeof(num));
        if (val == NULL) {
            /* Not ours: keep one brace and look again after it, so that
             * "{{{lock}}}" still finds "{{lock}}". */
            lc__sb_add(b, t, (size_t)(open - t) + 1);
            t = open + 1;
            continue;
        }
        lc__sb_add(b, t, (size_t)(open - t));
        add_encoded(b, val, enc);
        t = close + 2;
    }
}

/* ------------------------------------------------------------------------ */
/* Error texts                                                              */
/* ------------------------------------------------------------------------ */

static void set_error(lc__http_result *out, const char *fmt, ...) LC__PRINTF(2, 3);

/* Formats out->error; a text that filled the buffer is ended before a
 * character it would cut in two. */
static void set_error(lc__http_result *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(out->error, sizeof(out->error), fmt, ap);
    va_end(ap);
    size_t n = strlen(out->error);
    if (n + 1 == sizeof(out->error))
        out->error[lc__utf8_cut(out->error, n + 1, n)] = '\0';
}

/* Replaces every occurrence of s[0..n) in the NUL-terminated msg with
 * "***". n is at least 3, so the text never grows. */
static void hide(char *msg, const char *s, size_t n)
{
    char *w = msg;
    const char *r = msg, *end = msg + strlen(msg);
    while (r < end) {
        const char *hit = memmem(r, (size_t)(end - r), s, n);
        size_t keep = (size_t)((hit ? hit : end) - r);
        memmove(w, r, keep);
        w += keep;
        if (hit == NULL)
            break;
        memcpy(w, "***", 3);
        w += 3;
        r = hit + n;
    }
    *w = '\0';
}

/* The job's header values may be secrets (Authorization: Bearer KEY,
 * X-Api-Key: KEY), and a receiver may echo them in what it answers: each
 * whole value of 4 bytes or more is hidden, and each word of 8 bytes or
 * more in it (the KEY of "Bearer KEY", a cookie's value). */
static void hide_header_values(char *msg, const lc_http_job *job)
{
    for (size_t i = 0; i < job->n_headers; i++) {
        const char *val = job->headers[i].value;
        if (val == NULL)
            continue;
        size_t len = strlen(val);
        if (len >= 4)
            hide(msg, val, len);
        for (const char *p = val; *p;) {
            size_t n = strcspn(p, " \t,;=");
            if (n >= 8 && n < len)
                hide(msg, p, n);
            p += n;
            p += strspn(p, " \t,;=");
        }
    }
}

/* The last pass over every error text: the header values, the URL's
 * password and secret-looking query values (as written in the job and as
 * sent), and whatever else reads like a secret. */
static void seal_error(lc__http_result *out, const lc_http_job *job, const char *sent_url)
{
    hide_header_values(out->error, job);
    lc__redact_msg(out->error, sizeof(out->error), job->url);
    if (sent_url)
        lc__redact_msg(out->error, sizeof(out->error), sent_url);
}

/* Text from the other end (a response body, curl's message) as one line
 * for an error: the job's header values hidden, runs of whitespace as one
 * space, cut to `max` bytes on a character boundary (*cut says so), and
 * what is not printable UTF-8 escaped as \xNN. malloc'd; NULL when out of
 * memory. The whole text is hidden before it is cut, so no secret is
 * shown in part at the cut. */
static char *one_line(const char *s, size_t len, size_t max, const lc_http_job *job, int *cut)
{
    char *t = malloc(len + 1);
    if (t == NULL)
        return NULL;
    for (size_t i = 0; i < len; i++)
        t[i] = s[i] ? s[i] : ' ';
    t[len] = '\0';
    hide_header_values(t, job);
    size_t w = 0;
    int space = 1; /* drops leading whitespace */
    for (size_t r = 0; t[r]; r++) {
        int ws = strchr(" \t\r\n\v\f", t[r]) != NULL;
        if (ws && space)
            continue;
        t[w++] = ws ? ' ' : t[r];
        space = ws;
    }
    while (w > 0 && t[w - 1] == ' ')
        w--;
    size_t keep = lc__utf8_cut(t, w, max);
    *cut = keep < w;
    t[keep] = '\0';
    char *e = lc_text_escape(t);
    explicit_bzero(t, len);
    free(t);
    return e;
}

/* ------------------------------------------------------------------------ */
/* The request                                                              */
/* ------------------------------------------------------------------------ */

typedef struct request {
    buf url;
    buf body; /* p == NULL: no body */
    struct curl_slist *headers;
} request;

static void request_free(request *rq)
{
    buf_wipe(&rq->url);
    buf_wipe(&rq->body);
    lc__curl.slist_free_all(rq->headers);
    memset(rq, 0, sizeof(*rq));
}

static int is_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof(reserved_headers) / sizeof(reserved_headers[0]); i++)
        if (strcasecmp(name, reserved_headers[i]) == 0)
            return 1;
    return 0;
}

static int job_has_header(const lc_http_job *job, const char *name)
{
    for (size_t i = 0; i < job->n_headers; i++)
        if (job->headers[i].name && strcasecmp(job->headers[i].name, name) == 0)
            return 1;
    return 0;
}

lc_status lc__http_check(const lc_http_job *job, lc_error *err)
{
    if (job == NULL || job->url == NULL)
        return lc__err(err, LC_ERR_CONFIG, 0, "http job without a url");
    for (size_t i = 0; i < job->n_headers; i++) {
        const lc_header *h = &job->headers[i];
        if (h->name == NULL || h->value == NULL)
            return lc__err(err, LC_ERR_CONFIG, 0, "http header without a name or value");
        if (is_reserved(h->name))
            return lc__err(err, LC_ERR_CONFIG, 0,
                           "http header '%.60s' is set by lockcoord itself; remove it", h->name);
        if (strpbrk(h->value, "\r\n") != NULL)
            return lc__err(err, LC_ERR_CONFIG, 0, "http header '%.60s': a value must be one line",
                           h->name);
    }
    return LC_OK;
}

static int append_line(request *rq, const char *line)
{
    struct curl_slist *l = lc__curl.slist_append(rq->headers, line);
    if (l == NULL)
        return -1;
    rq->headers = l;
    return 0;
}

/* Appends "name: value"; a value with CR or LF is refused (returns 1, out
 * says which header), since it would add headers of its own. Returns -1
 * when out of memory, else 0. */
static int add_header(request *rq, const char *name, const char *value, lc__http_result *out)
{
    if (strpbrk(value, "\r\n") != NULL) {
        set_error(out,
                  "http header '%.60s': its value holds a line break once its placeholders "
                  "are filled in; not sent",
                  name);
        return 1;
    }
    /* "Name:" alone would make curl drop the header; "Name;" sends it empty. */
    buf line = {0};
    buf_str(&line, name);
    buf_str(&line, *value ? ": " : ";");
    buf_str(&line, value);
    int rc = line.failed ? -1 : append_line(rq, line.p);
    buf_wipe(&line);
    return rc;
}

static int add_job_headers(request *rq, const lc_http_job *job, const lc__http_vars *v,
                           lc__http_result *out)
{
    lc_error cerr;
    if (lc__http_check(job, &cerr) != LC_OK) {
        set_error(out, "%s; not sent", cerr.message);
        return 1;
    }
    int rc = 0;
    for (size_t i = 0; i < job->n_headers && rc == 0; i++) {
        buf val = {0};
        expand(&val, job->headers[i].value, v, ENC_RAW);
        rc = val.failed ? -1 : add_header(rq, job->headers[i].name, val.p, out);
        buf_wipe(&val);
    }
    return rc;
}

/* The three headers that let a receiver refuse a stale writer (the fence)
 * or a repeat (the key: one per lock and slot, the same for a retry). */
static int add_lockcoord_headers(request *rq, const lc_http_job *job, const lc__http_vars *v,
                                 lc__http_result *out)
{
    char fence[24];
    snprintf(fence, sizeof(fence), "%" PRIu64, v->fence);
    buf key = {0};
    buf_str(&key, v->lock);
    buf_str(&key, ":");
    buf_str(&key, v->slot);
    int rc = add_header(rq, "Lockcoord-Lock", v->lock, out);
    if (rc == 0)
        rc = add_header(rq, "Lockcoord-Fence", fence, out);
    if (rc == 0)
        rc = key.failed ? -1 : add_header(rq, "Idempotency-Key", key.p, out);
    buf_wipe(&key);
    /* No "Expect: 100-continue" round trip before a larger body. */
    if (rc == 0)
        rc = append_line(rq, "Expect:");
    if (rc == 0 && job->body && !job_has_header(job, "Content-Type"))
        rc = append_line(rq, "Content-Type: application/json");
    return rc;
}

/* Fills rq from the job and the values. Returns 0, 1 when the request is
 * refused (out says why), -1 when out of memory. */
static int build_request(request *rq, const lc_http_job *job, const lc__http_vars *v,
                         lc__http_result *out)
{
    expand(&rq->url, job->url, v, ENC_URL);
    if (job->body)
        expand(&rq->body, job->body, v, ENC_JSON);
    if (rq->url.failed || rq->body.failed)
        return -1;
    int rc = add_job_headers(rq, job, v, out);
    if (rc == 0)
        rc = add_lockcoord_headers(rq, job, v, out);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* The transfer                                                             */
/* ------------------------------------------------------------------------ */

typedef struct response {
    buf body;
    int too_big;
} response;

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
    response *r = arg;
    size_t len = size * n;
    if (len > LC__HTTP_BODY_MAX - r->body.len) {
        r->too_big = 1;
        return 0; /* anything but len aborts the transfer */
    }
    lc__sb_add(&r->body, data, len);
    return r->body.failed ? 0 : len;
}

static void set_method(CURL *e, const lc_http_job *job, const request *rq)
{
    const char *m = job->method && *job->method ? job->method : "POST";
    if (rq->body.p) {
        lc__curl.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body.len);
        lc__curl.easy_setopt(e, CURLOPT_POSTFIELDS, rq->body.p);
        if (strcmp(m, "POST") != 0)
            lc__curl.easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    } else if (strcmp(m, "GET") == 0) {
        lc__curl.easy_setopt(e, CURLOPT_HTTPGET, 1L);
    } else if (strcmp(m, "HEAD") == 0) {
        lc__curl.easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(m, "POST") == 0) {
        lc__curl.easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)0);
        lc__curl.easy_setopt(e, CURLOPT_POSTFIELDS, "");
    } else {
        lc__curl.easy_setopt(e, CURLOPT_CUSTOMREQUEST, m);
    }
}

/* Only http and https, also for the redirects that are not followed
 * anyway; TLS peers always verified. */
static CURLcode set_safety(CURL *e, const lc_http_job *job)
{
    CURLcode rc = CURLE_OK;
#if LIBCURL_VERSION_NUM >= 0x075500 /* 7.85: the _STR forms */
    rc = lc__curl.easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    if (rc == CURLE_OK)
        rc = lc__curl.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#else
    rc = lc__curl.easy_setopt(e, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
    if (rc == CURLE_OK)
        rc = lc__curl.easy_setopt(e, CURLOPT_REDIR_PROTOCOLS,
                                  (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    if (rc == CURLE_OK)
        rc = lc__curl.easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    if (rc == CURLE_OK)
        rc = lc__curl.easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    if (rc == CURLE_OK)
        rc = lc__curl.easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (rc == CURLE_OK && job->ca_file)
        rc = lc__curl.easy_setopt(e, CURLOPT_CAINFO, job->ca_file);
    return rc;
}

static CURLcode set_options(CURL *e, const lc_http_job *job, const request *rq, response *resp,
                            char *errbuf, int64_t timeout_ms)
{
    CURLcode rc = lc__curl.easy_setopt(e, CURLOPT_URL, rq->url.p);
    if (rc == CURLE_OK)
        rc = set_safety(e, job);
    if (rc != CURLE_OK)
        return rc;
    set_method(e, job, rq);
    lc__curl.easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
    lc__curl.easy_setopt(e, CURLOPT_USERAGENT, "lockcoord/" LC_VERSION);
    lc__curl.easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    lc__curl.easy_setopt(e, CURLOPT_ERRORBUFFER, errbuf);
    lc__curl.easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
    lc__curl.easy_setopt(e, CURLOPT_WRITEDATA, resp);
    lc__curl.easy_setopt(e, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)LC__HTTP_BODY_MAX);
    if (timeout_ms > 0)
        lc__curl.easy_setopt(e, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
#if LIBCURL_VERSION_NUM >= 0x075700 /* 7.87 */
    /* An abort during a slow name lookup must not wait for the resolver
     * thread: it is left to finish (and free itself) on its own. */
    lc__curl.easy_setopt(e, CURLOPT_QUICK_EXIT, 1L);
#endif
    return CURLE_OK;
}

/* 1 when fd is readable (or hung up, or not a descriptor: a stop signal
 * that cannot be read must not let the work run on unstoppable). */
static int stop_requested(int fd)
{
    if (fd < 0)
        return 0;
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) > 0 && p.revents != 0;
}

/* Drives the transfer until it ends or stop_fd is readable. Returns 1 when
 * stopped, else 0 with *res the transfer's result. */
static int drive(CURLM *m, int stop_fd, CURLcode *res, CURLMcode *mres)
{
    for (;;) {
        int running = 0;
        *mres = lc__curl.multi_perform(m, &running);
        if (*mres != CURLM_OK)
            return 0;
        if (running == 0)
            break;
        struct curl_waitfd w = {.fd = stop_fd, .events = CURL_WAIT_POLLIN, .revents = 0};
        *mres = lc__curl.multi_poll(m, stop_fd >= 0 ? &w : NULL, stop_fd >= 0 ? 1 : 0, POLL_MAX_MS,
                                    NULL);
        if (*mres != CURLM_OK)
            return 0;
        if (stop_requested(stop_fd))
            return 1;
    }
    int left = 0;
    CURLMsg *msg;
    while ((msg = lc__curl.multi_info_read(m, &left)) != NULL)
        if (msg->msg == CURLMSG_DONE)
            *res = msg->data.result;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Judging the response                                                     */
/* ------------------------------------------------------------------------ */

/* The node at a dotted path ("a.b.0.c"), or NULL. */
static const cJSON *json_at(const cJSON *node, const char *path)
{
    for (const char *p = path; node != NULL;) {
        size_t n = strcspn(p, ".");
        char *key = strndup(p, n);
        if (key == NULL)
            return NULL;
        char *end;
        errno = 0;
        long idx = strtol(key, &end, 10);
        if (cJSON_IsObject(node))
            node = cJSON_GetObjectItemCaseSensitive(node, key);
        else if (cJSON_IsArray(node) && n > 0 && *end == '\0' && key[0] != '-' && errno == 0 &&
                 idx <= INT_MAX)
            node = cJSON_GetArrayItem(node, (int)idx);
        else
            node = NULL;
        free(key);
        if (p[n] == '\0')
            break;
        p += n + 1;
    }
    return node;
}

/* Reads the checkpoint out of an ok response. Returns 0 (new_checkpoint
 * set, or NULL for "none"), 1 when the attempt fails (out says why), -1
 * when out of memory. */
static int take_checkpoint(const lc_http_job *job, const response *resp, lc__http_result *out)
{
    const char *path = job->checkpoint_from;
    if (path == NULL || resp->body.len == 0)
        return 0;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(resp->body.p, resp->body.len, &end, 0);
    if (root == NULL || end[strspn(end, " \t\r\n")] != '\0') {
        cJSON_Delete(root);
        set_error(out, "HTTP %d: checkpoint_from '%.100s': the response is not JSON",
                  out->http_status, path);
        return 1;
    }
    const cJSON *node = json_at(root, path);
    int rc = 0;
    char *val = NULL;
    if (node == NULL) {
        set_error(out, "HTTP %d: checkpoint_from '%.100s': not in the response", out->http_status,
                  path);
        rc = 1;
    } else if (cJSON_IsString(node)) {
        rc = (val = strdup(node->valuestring)) ? 0 : -1;
    } else if (cJSON_IsNumber(node)) {
        char *num = cJSON_PrintUnformatted(node);
        rc = num && (val = strdup(num)) ? 0 : -1;
        cJSON_free(num);
    } else if (!cJSON_IsNull(node)) {
        set_error(out, "HTTP %d: checkpoint_from '%.100s': not a string or a number",
                  out->http_status, path);
        rc = 1;
    }
    if (val && lc_text_check(val, strlen(val), NULL) != LC_OK) {
        set_error(out, "HTTP %d: checkpoint_from '%.100s': the value is not one line of text",
                  out->http_status, path);
        rc = 1;
    }
    cJSON_Delete(root);
    if (rc != 0) {
        free(val);
        return rc;
    }
    out->new_checkpoint = val;
    return 0;
}

static int status_expected(const lc_http_job *job, int status)
{
    const int *codes = job->n_expect_status ? job->expect_status : default_status;
    size_t n = job->n_expect_status ? job->n_expect_status : sizeof(default_status) / sizeof(int);
    for (size_t i = 0; i < n; i++)
        if (codes[i] == status)
            return 1;
    return 0;
}

/* "HTTP 500: <start of the body>". Returns -1 when out of memory. */
static int fail_status(const lc_http_job *job, const response *resp, lc__http_result *out)
{
    int cut = 0;
    char *quote =
        one_line(resp->body.p ? resp->body.p : "", resp->body.len, LC__HTTP_QUOTE_MAX, job, &cut);
    if (quote == NULL)
        return -1;
    const char *note =
        out->http_status >= 300 && out->http_status < 400 ? " (redirects are not followed)" : "";
    out->outcome = LC__HTTP_FAILED;
    if (*quote)
        set_error(out, "HTTP %d%s: %s%s", out->http_status, note, quote, cut ? "..." : "");
    else
        set_error(out, "HTTP %d%s", out->http_status, note);
    free(quote);
    return 0;
}

/* curl's own account of a failed transfer, with the system's error when
 * curl left it out ("Couldn't connect to server (Connection refused)"). */
static int fail_transfer(CURL *e, CURLcode res, const char *errbuf, const lc_http_job *job,
                         lc__http_result *out)
{
    long oserr = 0;
    lc__curl.easy_getinfo(e, CURLINFO_OS_ERRNO, &oserr);
    char sys[128] = "";
    const char *what = *errbuf ? errbuf : lc__curl.easy_strerror(res);
    if (oserr > 0 && oserr <= INT_MAX) {
        const char *s = strerror_r((int)oserr, sys, sizeof(sys));
        if (s != sys)
            lc__strlcpy(sys, s, sizeof(sys));
        if (strstr(what, sys) != NULL)
            sys[0] = '\0';
    }
    int cut = 0;
    char *msg = one_line(what, strlen(what), LC__HTTP_ERROR_MAX / 2, job, &cut);
    if (msg == NULL)
        return -1;
    out->outcome = res == CURLE_OPERATION_TIMEDOUT ? LC__HTTP_TIMEOUT : LC__HTTP_FAILED;
    char status[32] = "";
    if (out->http_status > 0)
        snprintf(status, sizeof(status), "HTTP %d: ", out->http_status);
    set_error(out, "%s%s%s%s%s", status, msg, *sys ? " (" : "", sys, *sys ? ")" : "");
    free(msg);
    return 0;
}

/* Turns a finished transfer into out. Returns -1 when out of memory. */
static int judge(CURL *e, CURLcode res, const char *errbuf, const lc_http_job *job,
                 const response *resp, lc__http_result *out)
{
    long status = 0;
    lc__curl.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    out->http_status = status > 0 && status < 1000 ? (int)status : 0;
    if (resp->body.failed)
        return -1;
    if (resp->too_big || res == CURLE_FILESIZE_EXCEEDED) {
        out->outcome = LC__HTTP_FAILED;
        if (out->http_status)
            set_error(out, "HTTP %d: response over 1 MiB", out->http_status);
        else
            set_error(out, "response over 1 MiB");
        return 0;
    }
    if (res != CURLE_OK)
        return fail_transfer(e, res, errbuf, job, out);
    if (!status_expected(job, out->http_status))
        return fail_status(job, resp, out);
    int rc = take_checkpoint(job, resp, out);
    out->outcome = rc == 0 ? LC__HTTP_OK : LC__HTTP_FAILED;
    return rc < 0 ? -1 : 0;
}

/* ------------------------------------------------------------------------ */
/* One attempt                                                              */
/* ------------------------------------------------------------------------ */

/* An attempt that could not be made: err and out say the same. */
static lc_status cannot(lc__http_result *out, lc_error *err, lc_status code, const char *msg)
{
    if (out) {
        out->outcome = LC__HTTP_FAILED;
        set_error(out, "%s", msg);
    }
    return lc__err(err, code, code == LC_ERR_NOMEM ? ENOMEM : 0, "http job: %s", msg);
}

/* Runs the built request. Returns LC_OK or LC_ERR_NOMEM/INTERNAL. */
static lc_status transfer(const lc_http_job *job, request *rq, int64_t timeout_ms, int stop_fd,
                          lc__http_result *out, lc_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    response resp = {0};
    CURL *e = lc__curl.easy_init();
    CURLM *m = lc__curl.multi_init();
    CURLcode res = CURLE_OK;
    CURLMcode mres = CURLM_OK;
    lc_status rc = LC_OK;
    if (e == NULL || m == NULL)
        rc = cannot(out, err, LC_ERR_INTERNAL, "libcurl: cannot create a transfer");
    else if ((res = set_options(e, job, rq, &resp, errbuf, timeout_ms)) != CURLE_OK)
        rc = cannot(out, err, LC_ERR_INTERNAL, lc__curl.easy_strerror(res));
    else if ((mres = lc__curl.multi_add_handle(m, e)) != CURLM_OK)
        rc = cannot(out, err, LC_ERR_INTERNAL, lc__curl.multi_strerror(mres));
    if (rc == LC_OK) {
        res = CURLE_FAILED_INIT;
        if (drive(m, stop_fd, &res, &mres)) {
            long status = 0;
            lc__curl.easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
            out->http_status = status > 0 && status < 1000 ? (int)status : 0;
            out->outcome = LC__HTTP_ABORTED;
            set_error(out, "aborted before the response was complete");
        } else if (mres != CURLM_OK) {
            rc = cannot(out, err, LC_ERR_INTERNAL, lc__curl.multi_strerror(mres));
        } else if (judge(e, res, errbuf, job, &resp, out) != 0) {
            rc = cannot(out, err, LC_ERR_NOMEM, "out of memory");
        }
        lc__curl.multi_remove_handle(m, e);
    }
    lc__curl.multi_cleanup(m);
    lc__curl.easy_cleanup(e);
    buf_wipe(&resp.body);
    return rc;
}

lc_status lc__http_run(const lc_http_job *job, const lc__http_vars *v, int64_t timeout_ms,
                       int stop_fd, lc__http_result *out, lc_error *err)
{
    if (out)
        memset(out, 0, sizeof(*out));
    if (job == NULL || job->url == NULL || v == NULL || v->lock == NULL || v->slot == NULL ||
        out == NULL)
        return cannot(out, err, LC_ERR_INVALID, "missing job, url, lock or slot");
    lc_error lerr;
    if (lc__curl_load(&lerr) != LC_OK)
        return cannot(out, err, LC_ERR_UNAVAILABLE, lerr.message);
    if (stop_requested(stop_fd)) {
        out->outcome = LC__HTTP_ABORTED;
        set_error(out, "aborted before the request was sent");
        return LC_OK;
    }
    request rq = {0};
    lc_status rc = LC_OK;
    int built = build_request(&rq, job, v, out);
    if (built < 0)
        rc = cannot(out, err, LC_ERR_NOMEM, "out of memory");
    else if (built > 0)
        out->outcome = LC__HTTP_FAILED;
    else
        rc = transfer(job, &rq, timeout_ms, stop_fd, out, err);
    if (out->outcome != LC__HTTP_OK)
        seal_error(out, job, rq.url.p);
    request_free(&rq);
    return rc;
}

void lc__http_result_clear(lc__http_result *r)
{
    if (r == NULL)
        return;
    free(r->new_checkpoint);
    memset(r, 0, sizeof(*r));
}

const char *lc__http_outcome_name(lc__http_outcome o)
{
    switch (o) {
    case LC__HTTP_OK: return "ok";
    case LC__HTTP_FAILED: return "failed";
    case LC__HTTP_TIMEOUT: return "timeout";
    case LC__HTTP_ABORTED: return "aborted";
    }
    return "failed";
}
