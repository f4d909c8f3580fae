/* backends/redis/conn.c -- one hiredis connection: connect with timeouts,
 * AUTH, SELECT, the persistence check, the sharded pub/sub probe, and I/O
 * errors that drop the connection so the next call starts afresh. */
#include "backends/redis/redis_int.h"
#include "core/error_int.h"

#include <errno.h>
#include <hiredis/sds.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>

static struct timeval tv_of(int64_t ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

/* Where a call broke: connecting, sending, or waiting for the reply. */
typedef enum phase {
    PH_CONNECT,
    PH_SEND,
    PH_REPLY
} phase;

/* Sends what hiredis has queued with send(MSG_NOSIGNAL) instead of
 * hiredis's write(2): to a server that went away, write(2) raises SIGPIPE,
 * which would kill an embedder that did not ignore it, while send() with
 * MSG_NOSIGNAL only fails with EPIPE. Doing it here also saves the four
 * signal-mask system calls per request that guarding write(2) took. */
static int flush_out(redisContext *ctx)
{
    while (sdslen(ctx->obuf) > 0) {
        ssize_t n = send(ctx->fd, ctx->obuf, sdslen(ctx->obuf), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            ctx->err = REDIS_ERR_IO;
            snprintf(ctx->errstr, sizeof(ctx->errstr), "%s", strerror(errno));
            return REDIS_ERR;
        }
        sdsrange(ctx->obuf, (int)n, -1);
    }
    return REDIS_OK;
}

/* Sends everything queued, then reads one reply (one may be buffered
 * already). *where says which of the two failed. */
static int get_reply(redisContext *ctx, void **reply, phase *where)
{
    *where = PH_SEND;
    if (flush_out(ctx) != REDIS_OK)
        return REDIS_ERR;
    *where = PH_REPLY;
    return redisGetReply(ctx, reply);
}

static size_t digits(size_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* "<kind><v>\r\n" at p; returns the end. */
static char *put_header(char *p, char kind, size_t v)
{
    size_t n = digits(v);
    *p++ = kind;
    for (size_t i = n; i > 0; i--, v /= 10)
        p[i - 1] = (char)('0' + v % 10);
    p += n;
    *p++ = '\r';
    *p++ = '\n';
    return p;
}

int lc__resp_append(sds *buf, int argc, const char **argv, const size_t *lens)
{
    size_t total = 1 + digits((size_t)argc) + 2;
    for (int i = 0; i < argc; i++)
        total += 1 + digits(lens[i]) + 2 + lens[i] + 2;
    if (total > INT_MAX)
        return REDIS_ERR;
    sds b = sdsMakeRoomFor(*buf, total);
    if (b == NULL)
        return REDIS_ERR;
    *buf = b;
    char *p = put_header(b + sdslen(b), '*', (size_t)argc);
    for (int i = 0; i < argc; i++) {
        p = put_header(p, '$', lens[i]);
        memcpy(p, argv[i], lens[i]);
        p += lens[i];
        *p++ = '\r';
        *p++ = '\n';
    }
    sdsIncrLen(b, (int)total);
    return REDIS_OK;
}

void lc__rconn_drop(lc__redis_conn *c)
{
    if (c->ctx)
        redisFree(c->ctx);
    c->ctx = NULL;
    c->queued = 0;
}

int lc__rconn_may_retry(const lc__redis_conn *c, int repeatable)
{
    return c->failure == LC__RCONN_UNSENT || (repeatable && c->failure == LC__RCONN_LOST);
}

int lc__reply_is_error(const redisReply *r, const char *prefix)
{
    return r && r->type == REDIS_REPLY_ERROR && r->str &&
           strncmp(r->str, prefix, strlen(prefix)) == 0;
}

static int is_timeout(const redisContext *ctx, int e)
{
#ifdef REDIS_ERR_TIMEOUT
    if (ctx->err == REDIS_ERR_TIMEOUT)
        return 1;
#endif
    return ctx->err == REDIS_ERR_IO &&
           (e == EAGAIN || e == EWOULDBLOCK || strcmp(ctx->errstr, strerror(EAGAIN)) == 0);
}

/* A broken connection, as opposed to a slow or refused one: sending
 * again on a new connection may succeed. */
static int is_broken(const redisContext *ctx, int e)
{
    return ctx->err == REDIS_ERR_EOF ||
           (ctx->err == REDIS_ERR_IO && (e == EPIPE || e == ECONNRESET || e == ENOTCONN));
}

/* Turns the context's error into an lc_error, says in c->failure whether
 * the request could have run, and drops the connection: after an I/O
 * error hiredis cannot tell what the server did. */
static lc_status io_error(lc__redis_conn *c, phase where, const char *what, lc_error *err)
{
    redisContext *ctx = c->ctx;
    int e = errno;
    lc_status rc;
    char after[32];
    c->failure = LC__RCONN_OK;
    if (where != PH_CONNECT && !is_timeout(ctx, e) && is_broken(ctx, e))
        c->failure = where == PH_SEND ? LC__RCONN_UNSENT : LC__RCONN_LOST;
    if (is_timeout(ctx, e))
        rc = lc__err(err, LC_ERR_UNAVAILABLE, e, "redis %s: %stimed out after %s", c->addr->label,
                     what, lc_duration_format(c->command_timeout_ms, after, sizeof(after)));
    else if (ctx->err == REDIS_ERR_EOF)
        rc = lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: %sconnection closed by the server",
                     c->addr->label, what);
    else
        rc = lc__err(err, LC_ERR_UNAVAILABLE, ctx->err == REDIS_ERR_IO ? e : 0, "redis %s: %s%s",
                     c->addr->label, what, ctx->errstr);
    lc__rconn_drop(c);
    return rc;
}

/* 1 when the server has closed the connection (or sent something nobody
 * asked for) since the last reply was read: with no request outstanding,
 * a readable socket can only mean that. */
static int closed_by_server(const redisContext *ctx)
{
    struct pollfd p = {ctx->fd, POLLIN, 0};
    if (poll(&p, 1, 0) <= 0)
        return 0;
    char b;
    ssize_t n = recv(ctx->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR));
}

static redisContext *dial(const lc__redis_conn *c)
{
    struct timeval tv = tv_of(c->connect_timeout_ms);
    if (c->addr->path)
        return redisConnectUnixWithTimeout(c->addr->path, tv);
    return redisConnectWithTimeout(c->addr->host, c->addr->port, tv);
}

/* Queues AUTH and SELECT as needed; returns how many were queued. */
static int queue_login(lc__redis_conn *c)
{
    const lc__redis_addr *a = c->addr;
    int n = 0;
    if (a->password && a->user) {
        redisAppendCommand(c->ctx, "AUTH %s %s", a->user, a->password);
        n++;
    } else if (a->password) {
        redisAppendCommand(c->ctx, "AUTH %s", a->password);
        n++;
    }
    if (a->db != 0) {
        redisAppendCommand(c->ctx, "SELECT %d", a->db);
        n++;
    }
    return n;
}

/* The login replies: any error is fatal. Authentication errors are said
 * so plainly; the server's text never contains the password. */
static lc_status check_login(lc__redis_conn *c, redisReply *r, lc_error *err)
{
    if (r->type != REDIS_REPLY_ERROR)
        return LC_OK;
    if (lc__reply_is_error(r, "WRONGPASS") || lc__reply_is_error(r, "NOAUTH") ||
        lc__reply_is_error(r, "ERR invalid password") || lc__reply_is_error(r, "ERR AUTH") ||
        lc__reply_is_error(r, "ERR Client sent AUTH"))
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: authentication failed: %s",
                       c->addr->label, r->str);
    return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: %s", c->addr->label, r->str);
}

static const char *config_value(const redisReply *r)
{
    if (r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[1]->type == REDIS_REPLY_STRING)
        return r->element[1]->str;
    return NULL;
}

/* Once per server per process as well as per state: one process opens
 * several clients of the same server (`lockcoord run`: its own and the
 * keeper's), and the warning is about the server. The servers warned
 * about, by their address's hash; past the table's size, a server warns
 * again (harmless). */
static pthread_mutex_t warned_mu = PTHREAD_MUTEX_INITIALIZER;
static unsigned long warned_servers[16];
static size_t n_warned_servers;

/* 1 if this server was not warned about yet in this process (and now is). */
static int first_warning_for(const char *label)
{
    unsigned long h = 5381;
    for (const unsigned char *p = (const unsigned char *)label; *p; p++)
        h = h * 33 + *p;
    int first = 1;
    pthread_mutex_lock(&warned_mu);
    for (size_t i = 0; i < n_warned_servers && first; i++)
        first = warned_servers[i] != h;
    if (first && n_warned_servers < sizeof(warned_servers) / sizeof(warned_servers[0]))
        warned_servers[n_warned_servers++] = h;
    pthread_mutex_unlock(&warned_mu);
    return first;
}

/* Warns once when writes are not persisted on every write. A refused
 * CONFIG (ACL, renamed command) says nothing either way. */
static void check_persistence(lc__redis_conn *c, redisReply *aof, redisReply *fsync)
{
    const char *ao = config_value(aof), *fs = config_value(fsync);
    if (ao == NULL || fs == NULL || *c->persistence_warned)
        return;
    if (strcmp(ao, "yes") == 0 && strcmp(fs, "always") == 0)
        return;
    *c->persistence_warned = 1;
    if (!first_warning_for(c->addr->label))
        return;
    lc__log(c->log, c->log_ctx, LC_LOG_WARN,
            "redis %s: appendonly is %s, appendfsync is %s: leases and fences do not "
            "survive a server restart (set appendonly yes and appendfsync always)",
            c->addr->label, ao, fs);
}

int lc__reply_has_command(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements == 1 &&
           r->element[0]->type == REDIS_REPLY_ARRAY && r->element[0]->elements > 0;
}

/* Sends the login, the persistence check and the sharded pub/sub probe
 * in one round trip. */
static lc_status setup(lc__redis_conn *c, lc_error *err)
{
    int n = queue_login(c), total = n;
    if (c->check_persistence) {
        redisAppendCommand(c->ctx, "CONFIG GET appendonly");
        redisAppendCommand(c->ctx, "CONFIG GET appendfsync");
        total += 2;
    }
    if (c->probe_sharded) {
        redisAppendCommand(c->ctx, "COMMAND INFO SPUBLISH");
        total++;
    }
    redisReply *r[5] = {NULL, NULL, NULL, NULL, NULL};
    lc_status rc = LC_OK;
    phase where;
    for (int i = 0; i < total && rc == LC_OK; i++) {
        if (get_reply(c->ctx, (void **)&r[i], &where) != REDIS_OK)
            rc = io_error(c, PH_CONNECT, "connect: ", err);
        else if (i < n || lc__reply_is_error(r[i], "NOAUTH"))
            rc = check_login(c, r[i], err);
    }
    if (rc == LC_OK && c->check_persistence)
        check_persistence(c, r[n], r[n + 1]);
    c->sharded = rc == LC_OK && c->probe_sharded && lc__reply_has_command(r[total - 1]);
    for (int i = 0; i < total; i++)
        if (r[i])
            freeReplyObject(r[i]);
    return rc;
}

static lc_status ensure(lc__redis_conn *c, int probe, lc_error *err)
{
    if (probe && c->ctx && c->queued == 0 && closed_by_server(c->ctx)) {
        lc__log(c->log, c->log_ctx, LC_LOG_DEBUG,
                "redis %s: connection closed by the server, reconnecting", c->addr->label);
        lc__rconn_drop(c);
    }
    if (c->ctx)
        return LC_OK;
    c->epoch++;
    c->ctx = dial(c);
    if (c->ctx == NULL)
        return lc__err(err, LC_ERR_NOMEM, 0, "redis %s: out of memory", c->addr->label);
    if (c->ctx->err)
        return io_error(c, PH_CONNECT, "connect: ", err);
    if (redisSetTimeout(c->ctx, tv_of(c->command_timeout_ms)) != REDIS_OK)
        return io_error(c, PH_CONNECT, "connect: ", err);
    if (c->addr->path == NULL && redisEnableKeepAlive(c->ctx) != REDIS_OK)
        return io_error(c, PH_CONNECT, "connect: ", err);
    lc_status rc = setup(c, err);
    if (rc != LC_OK)
        lc__rconn_drop(c);
    return rc;
}

lc_status lc__rconn_ensure(lc__redis_conn *c, lc_error *err)
{
    return ensure(c, 1, err);
}

lc_status lc__rconn_append(lc__redis_conn *c, int probe, int argc, const char **argv,
                           const size_t *lens, lc_error *err)
{
    if (c->queued == 0)
        c->failure = LC__RCONN_OK;
    lc_status rc = ensure(c, probe, err);
    if (rc != LC_OK)
        return rc;
    if (lc__resp_append(&c->ctx->obuf, argc, argv, lens) != REDIS_OK) {
        c->ctx->err = REDIS_ERR_OOM;
        snprintf(c->ctx->errstr, sizeof(c->ctx->errstr), "Out of memory");
        return io_error(c, PH_CONNECT, "", err); /* nothing sent */
    }
    c->queued++;
    c->requests++;
    return LC_OK;
}

lc_status lc__rconn_read(lc__redis_conn *c, redisReply **out, lc_error *err)
{
    *out = NULL;
    if (c->ctx == NULL)
        return lc__err(err, LC_ERR_UNAVAILABLE, 0, "redis %s: not connected", c->addr->label);
    void *reply = NULL;
    phase where;
    if (get_reply(c->ctx, &reply, &where) != REDIS_OK || reply == NULL)
        return io_error(c, where, "", err);
    if (c->queued > 0)
        c->queued--;
    *out = reply;
    return LC_OK;
}

lc_status lc__rconn_command(lc__redis_conn *c, int argc, const char **argv, const size_t *lens,
                            redisReply **out, lc_error *err)
{
    lc_status rc = lc__rconn_append(c, 1, argc, argv, lens, err);
    return rc == LC_OK ? lc__rconn_read(c, out, err) : rc;
}
