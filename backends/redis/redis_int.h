/* backends/redis/redis_int.h -- the Redis backend's modules: the URL, one
 * connection, the Lua scripts, and the state that ties them together. */
#ifndef LC_REDIS_INT_H
#define LC_REDIS_INT_H

#include "backends/backend_int.h"
#include "backends/limits_int.h"
#include "lockcoord.h"

#include <hiredis/hiredis.h>

/* Where the server is, parsed from redis.url. */
typedef struct lc__redis_addr {
    char *host;     /* TCP host without IPv6 brackets, NULL for a unix socket */
    int port;       /* default 6379 */
    char *path;     /* unix socket path, NULL for TCP */
    char *user;     /* ACL user, NULL if none */
    char *password; /* NULL if none; never printed */
    int db;
    char label[300]; /* "host:port" or the socket path, for messages */
} lc__redis_addr;

/* Parses redis://[user[:password]@]host[:port][/db] and
 * unix://[[user]:password@]/path (host a name, an IPv4 address or an IPv6
 * one in []); both take the query parameters db, password and username,
 * and refuse any other. User name, password, path and query are
 * percent-decoded (lc__redis_url_decode). On error returns LC_ERR_CONFIG
 * naming what is wrong (never the password) and leaves *out empty. The
 * config loader runs it at load too. */
lc_status lc__redis_url_parse(const char *url, lc__redis_addr *out, lc_error *err);
void lc__redis_addr_free(lc__redis_addr *a);

/* s[0..n) percent-decoded into *out (a new string, NUL-terminated; n == 0
 * gives ""). Strict: a '%' must be followed by two hex digits, and a %00
 * (which would cut the value short) is refused: LC_ERR_CONFIG with a
 * message naming `what` ("the password") and never quoting s; *out is then
 * NULL. LC_ERR_NOMEM when out of memory. */
lc_status lc__redis_url_decode(const char *s, size_t n, const char *what, char **out,
                               lc_error *err);

/* How the last call on a connection failed, for the caller to decide
 * whether running it again on a new connection is safe. */
typedef enum lc__rconn_failure {
    LC__RCONN_OK,     /* no failure, or one a retry would not cure (connect, timeout) */
    LC__RCONN_UNSENT, /* the connection broke before the request reached the server */
    LC__RCONN_LOST    /* the server closed it after the request was sent: it may have run */
} lc__rconn_failure;

/* One connection, made on demand and dropped on any I/O error so that the
 * next call reconnects. */
typedef struct lc__redis_conn {
    redisContext *ctx;
    const lc__redis_addr *addr;
    int64_t connect_timeout_ms;
    int64_t command_timeout_ms;
    lc_log_fn log;
    void *log_ctx;
    int *persistence_warned;   /* shared by the connections of one state */
    int check_persistence;     /* 0 for the subscriber connection */
    int probe_sharded;         /* ask at connect whether the server has SPUBLISH (a cluster) */
    int sharded;               /* the answer, per connection: 1 when it has (Redis 7) */
    int queued;                /* commands appended whose replies are not read yet */
    uint64_t requests;         /* commands appended (backend_int.h: requests) */
    uint64_t epoch;            /* counts the connections made: tells a replaced one */
    lc__rconn_failure failure; /* of the last failed call */
} lc__redis_conn;

/* Connects (with AUTH, SELECT, the persistence check and, with
 * probe_sharded, COMMAND INFO SPUBLISH, all in one round trip) if not
 * connected. Before a new request, a connection the server has closed
 * since the last one (idle timeout, CLIENT KILL, restart) is noticed and
 * replaced (one poll(2)), so the request goes to a live connection. */
lc_status lc__rconn_ensure(lc__redis_conn *c, lc_error *err);
void lc__rconn_drop(lc__redis_conn *c);

/* Queues one command without sending it (pipelining). Connects first;
 * before the first command of a request, with `probe`, checks as
 * lc__rconn_ensure does whether the server has closed the connection.
 * A repeatable request (lc__rs_repeatable) goes without the probe, which
 * would cost a system call on every request: on a connection the server
 * closed it fails as unsent or lost and is sent again on a new one
 * (lc__rconn_may_retry). */
lc_status lc__rconn_append(lc__redis_conn *c, int probe, int argc, const char **argv,
                           const size_t *lens, lc_error *err);

/* Sends what is queued and reads one reply. On an I/O error or timeout the
 * connection is dropped, LC_ERR_UNAVAILABLE returned and c->failure says
 * whether the commands could have run. Error replies are returned as
 * replies. */
lc_status lc__rconn_read(lc__redis_conn *c, redisReply **out, lc_error *err);

/* Whether a call that failed with LC_ERR_UNAVAILABLE may be sent again on
 * a new connection: always when its request never reached the server;
 * when the server may have run it, only if `repeatable` (running it twice
 * does what running it once does). */
int lc__rconn_may_retry(const lc__redis_conn *c, int repeatable);

/* Appends the protocol text of one command (RESP: an array of bulk
 * strings) to *buf, which may move; REDIS_ERR when out of memory (*buf is
 * left as it was). What hiredis's redisAppendCommandArgv writes, at a
 * third of the cost: hiredis formats each argument with sdscatfmt and
 * then copies the whole, which cost more than anything else a call does
 * on the client. */
int lc__resp_append(sds *buf, int argc, const char **argv, const size_t *lens);

/* append + read. */
lc_status lc__rconn_command(lc__redis_conn *c, int argc, const char **argv, const size_t *lens,
                            redisReply **out, lc_error *err);

/* The scripts, one per operation. */
enum {
    LC__RS_ACQUIRE,
    LC__RS_RENEW,
    LC__RS_RELEASE,
    LC__RS_FORCE,
    LC__RS_RECORD,
    LC__RS_CHECKPOINT,
    LC__RS_INSPECT,
    LC__RS_START,
    LC__RS_PAUSE,
    LC__RS_RESUME,
    LC__RS_LEAVE,
    LC__RS_RENEW_MANY,
    LC__RS_COUNT
};

#define LC__RS_MAXARGS 20

/* A script call: keys first, then arguments. */
typedef struct lc__rs_call {
    int script;
    int nkeys;
    int nargs; /* keys + arguments */
    const char *args[LC__RS_MAXARGS];
    size_t lens[LC__RS_MAXARGS];
    /* More arguments after args[] (borrowed), for a call over many keys
     * (renew-many's): nkeys then counts across both. */
    const char *const *more;
    const size_t *more_lens;
    size_t nmore;
    /* The index in args[] of the release notification's "sharded" flag
     * (release, force-release), which a cluster's router sets for the node
     * the call runs on; 0 for a call without one. */
    int notify_arg;
} lc__rs_call;

/* Adds a NUL-terminated string (NULL counts as "") to a call. */
void lc__rs_arg(lc__rs_call *call, const char *s);

/* The SHA1 of each script, as returned by SCRIPT LOAD ("" until known). */
typedef struct lc__redis_scripts {
    char sha[LC__RS_COUNT][41];
} lc__redis_scripts;

/* Runs one call in one round trip: EVALSHA when the SHA is known (EVAL on
 * NOSCRIPT), else SCRIPT LOAD and EVAL pipelined. *out is the script's
 * reply (may be an error reply); free it with freeReplyObject. */
lc_status lc__rs_eval(lc__redis_conn *c, lc__redis_scripts *s, const lc__rs_call *call,
                      redisReply **out, lc_error *err);

/* Runs n calls in one round trip (pipelined); out[i] receives each reply.
 * On error every out[i] is NULL. */
lc_status lc__rs_eval_many(lc__redis_conn *c, lc__redis_scripts *s, const lc__rs_call *calls,
                           size_t n, redisReply **out, lc_error *err);

/* SCRIPT LOAD of every script; *loaded counts them. */
lc_status lc__rs_load_all(lc__redis_conn *c, lc__redis_scripts *s, int *loaded, lc_error *err);

/* The script's name for messages ("acquire", ...). */
const char *lc__rs_name(int script);

/* Whether a script may run twice when the reply to the first was lost:
 * acquire finds the lock held with its own token and grants it again
 * (same fence); renew and checkpoint set the same values again; inspect
 * only reads; release, told that it is a retry, also accepts the lock as
 * released when this token released it. Reset and record would count
 * twice: they are sent again only when the first never reached the
 * server. */
int lc__rs_repeatable(int script);

/* 1 if the reply is an error reply starting with `prefix`. */
int lc__reply_is_error(const redisReply *r, const char *prefix);

/* 1 when a COMMAND INFO reply for one command describes it; 0 when the
 * server does not know the command (a nil entry), refused COMMAND (an
 * error reply: an ACL) or answered anything else. */
int lc__reply_has_command(const redisReply *r);

#define LC__KEY_MAX (LC__PREFIX_MAX + LC_NAME_MAX + 16)

/* The backend's state: one connection for commands, one for SUBSCRIBE;
 * with redis.cluster, `main` is the seed and `cluster` holds a connection
 * per node (backends/redis/cluster_int.h). */
typedef struct lc__redis {
    lc__redis_addr addr;
    lc__redis_conn main;
    lc__redis_conn sub;
    lc__redis_scripts scripts;
    int history; /* lock.history: run entries kept per lock */
    char *prefix;
    int min_replicas_ack;
    int64_t command_timeout_ms;
    int persistence_warned;
    int watching;                    /* subscribed on r->sub */
    int plain_pubsub;                /* 1: plain pub/sub even on nodes with sharded (tests) */
    char watch_channel[LC__KEY_MAX]; /* the channel watched, "" if none */
    struct lc__cluster *cluster;     /* NULL unless redis.cluster */
    lc__redis_conn *last;            /* the connection the last script ran on */
} lc__redis;

/* WAIT on connection c for redis.min_replicas_ack replicas of the writes
 * made while c->epoch was `epoch` (a connection made since would confirm
 * nothing). LC_OK at once when none are asked for. */
lc_status lc__redis_wait_replicas(lc__redis *r, lc__redis_conn *c, uint64_t epoch, lc_error *err);

/* "PREFIX:{NAME}:SUFFIX" into buf[LC__KEY_MAX]. */
void lc__redis_key(const lc__redis *r, const char *name, const char *suffix, char *buf);

/* v in decimal into buf, as snprintf's "%lld" would write it, at less
 * than a tenth of its cost (requests carry several numbers); returns
 * buf. */
#define LC__NUM_MAX 24
char *lc__redis_num(char buf[LC__NUM_MAX], long long v);

/* Decoding the scripts' replies (redis.c), apart from the calls so that
 * any reply tree can be fed to them (tests/fuzz/fuzz_redis_reply.c). r
 * gives only the address label and the key prefix for messages. A reply
 * of the wrong shape is LC_ERR_INTERNAL (an error reply
 * LC_ERR_UNAVAILABLE) naming the operation; nothing is kept from rep. */

/* The acquire script's {1, fence, acquired_at_ms, checkpoint, now_ms,
 * last_started_at_ms} into *out (out->checkpoint malloc'd or NULL), or its
 * {0, owner, fence, acquired_at_ms, pttl} as LC_ERR_CONFLICT with the
 * holder in err. */
lc_status lc__redis_acquire_reply(lc__redis *r, const char *name, const redisReply *rep,
                                  lc_grant *out, lc_error *err);

/* force_release if the lock is still as `seen` says (quorum mode's reset):
 * held under that fence, or free when it is 0; otherwise nothing is done
 * and no lease is reported. seen < 0: whatever it holds (force_release). */
lc_status lc__redis_force_fenced(void *state, const char *name, const char *reason, int64_t seen,
                                 int *was_held, lc_holder *prev, lc_error *err);

/* The force-release script's {was_held, owner, fence, acquired_at_ms,
 * pttl} into *was_held and *prev. */
lc_status lc__redis_force_reply(lc__redis *r, const char *name, const redisReply *rep,
                                int *was_held, lc_holder *prev, lc_error *err);

/* The inspect script's {pttl, now_ms, {meta fields}} into out (set up
 * here; lc_lock_info_clear it on success, cleared already on error). A
 * lock whose keys hold what lockcoord never writes (a WRONGTYPE error, a
 * field that does not parse) is not one of ours: *foreign is set and the
 * error says why. */
lc_status lc__redis_info_reply(lc__redis *r, const char *name, const redisReply *rep,
                               lc_lock_info *out, int *foreign, lc_error *err);

/* Every lock name with a meta key under the prefix, found with SCAN
 * (never KEYS), sorted, without duplicates (backends/redis/scan.c). A
 * key of that shape whose name breaks the lock name rules is not ours:
 * it is reported with lc__redis_skip and counted in *skipped. */
lc_status lc__redis_scan_names(lc__redis *r, char ***names, size_t *n, size_t *skipped,
                               lc_error *err);
void lc__redis_names_free(char **names, size_t n);

/* A listing skips a key under the prefix that is not a lockcoord lock
 * (`what` names it, `why` says why): warns through the log hook for the
 * first few, and counts every one in *skipped. */
void lc__redis_skip(lc__redis *r, size_t *skipped, const char *what, const char *why);

/* How many skipped keys are warned about by name. */
#define LC__SKIP_NAMED 10

/* Release notifications (backends/redis/watch.c). A subscription the
 * server ended (CLIENT KILL, a restart, a cluster slot that moved to
 * another node) is made again by the next wait, which then reports a
 * notification: a release may have been missed. */
lc_status lc__redis_watch(void *state, const char *name, lc_error *err);
lc_status lc__redis_wait(void *state, int64_t timeout_ms, int *notified, lc_error *err);
void lc__redis_unwatch(void *state);

/* What a reply read on the subscriber connection says about `channel`:
 * a confirmed subscription ("subscribe", "ssubscribe"), a message
 * ("message", "smessage": sharded pub/sub's), the end of the subscription
 * ("unsubscribe", "sunsubscribe": what a cluster node sends when the
 * channel's slot leaves it), or anything else (another channel, another
 * shape). */
typedef enum lc__redis_push {
    LC__PUSH_OTHER,
    LC__PUSH_SUBSCRIBED,
    LC__PUSH_MESSAGE,
    LC__PUSH_ENDED
} lc__redis_push;

lc__redis_push lc__redis_push_of(const redisReply *rep, const char *channel);

#endif
