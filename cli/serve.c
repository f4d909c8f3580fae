/* cli/serve.c -- the HTTP side of `sync --listen ADDR`: /metrics (the
 * engine's lc_sync_metrics, Prometheus text 0.0.4) and /healthz
 * (lc_sync_check_health as JSON, 200 or 503), served by libmicrohttpd.
 *
 * The socket is bound before the engine opens (a busy port is reported
 * before anything starts) and handed to libmicrohttpd, which serves each
 * connection on a thread of its own, at most CONN_LIMIT at once, each
 * closed after CONN_TIMEOUT_S idle seconds; request headers (the URL
 * included) beyond libmicrohttpd's memory limit get 414/431 from it.
 * Only GET and HEAD are served. A health check that waits on a frozen
 * backend holds its connection's thread only.
 *
 * libmicrohttpd is loaded here, when a server is asked for (dlopen), not
 * linked: it links GnuTLS and p11-kit, which would cost every other
 * command (`run` above all) about 2.5 MiB of memory at start. */
#include "cli.h"

#include <dlfcn.h>
#include <errno.h>
#include <microhttpd.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define CONN_LIMIT     64
#define CONN_TIMEOUT_S 10
#define BACKLOG        64

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

#define MHD_SONAME "libmicrohttpd.so.12"

/* The libmicrohttpd functions used, each named as its MHD_ function
 * without the prefix; filled once by load_mhd. */
static struct {
    struct MHD_Daemon *(*start_daemon)(unsigned int flags, uint16_t port,
                                       MHD_AcceptPolicyCallback apc, void *apc_cls,
                                       MHD_AccessHandlerCallback dh, void *dh_cls, ...);
    void (*stop_daemon)(struct MHD_Daemon *daemon);
    struct MHD_Response *(*create_response_from_buffer)(size_t size, void *buffer,
                                                        enum MHD_ResponseMemoryMode mode);
    enum MHD_Result (*add_response_header)(struct MHD_Response *response, const char *header,
                                           const char *content);
    enum MHD_Result (*queue_response)(struct MHD_Connection *connection, unsigned int status_code,
                                      struct MHD_Response *response);
    void (*destroy_response)(struct MHD_Response *response);
} mhd;

/* Each slot has its function's type as microhttpd.h declares it (checked
 * inside sizeof, which is never run: no reference to the library). */
#define MHD_SLOT(name)                                                                             \
    _Static_assert(sizeof(mhd.name = MHD_##name) != 0, "the type of MHD_" #name);                  \
    static const char mhd_sym_##name[] = "MHD_" #name
MHD_SLOT(start_daemon);
MHD_SLOT(stop_daemon);
MHD_SLOT(create_response_from_buffer);
MHD_SLOT(add_response_header);
MHD_SLOT(queue_response);
MHD_SLOT(destroy_response);

/* Loads libmicrohttpd once; on failure writes a one-line reason to `why`
 * and returns -1. */
static int load_mhd(char *why, size_t cap)
{
    static int loaded;
    if (loaded)
        return 0;
    void *h = dlopen(MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (h == NULL) {
        snprintf(why, cap, MHD_SONAME " (needed by sync --listen) cannot be loaded: %s", dlerror());
        return -1;
    }
    struct {
        const char *symbol;
        void **slot;
    } fns[] = {
        {mhd_sym_start_daemon, (void **)&mhd.start_daemon},
        {mhd_sym_stop_daemon, (void **)&mhd.stop_daemon},
        {mhd_sym_create_response_from_buffer, (void **)&mhd.create_response_from_buffer},
        {mhd_sym_add_response_header, (void **)&mhd.add_response_header},
        {mhd_sym_queue_response, (void **)&mhd.queue_response},
        {mhd_sym_destroy_response, (void **)&mhd.destroy_response},
    };
    for (size_t i = 0; i < sizeof(fns) / sizeof(fns[0]); i++) {
        void *f = dlsym(h, fns[i].symbol);
        if (f == NULL) {
            snprintf(why, cap, MHD_SONAME " (needed by sync --listen) lacks %s: %s", fns[i].symbol,
                     dlerror());
            return -1;
        }
        memcpy(fns[i].slot, &f, sizeof(f));
    }
    loaded = 1;
    return 0;
}

struct cli_server {
    cli *app;
    int fd;
    int ipv6;
    char addr[300];
    lc_sync *engine;
    struct MHD_Daemon *daemon;
};

/* A bad address from --listen is a usage error, from the config a
 * configuration error. */
static int addr_error(cli *app, int from_flag, const char *addr, const char *why)
{
    if (from_flag)
        return cli_usage(app, "--listen '%s': %s", addr, why);
    lc_error e;
    memset(&e, 0, sizeof(e));
    e.code = LC_ERR_CONFIG;
    snprintf(e.message, sizeof(e.message), "sync.listen '%s': %s", addr, why);
    return cli_fail(app, "sync", NULL, &e);
}

/* A socket listening on the first address `host` names. */
static int listen_on(cli_server *srv, const char *host, int port, int from_flag)
{
    char service[8];
    snprintf(service, sizeof(service), "%d", port);
    struct addrinfo hints, *ai = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int g = getaddrinfo(host, service, &hints, &ai);
    if (g != 0)
        return addr_error(srv->app, from_flag, srv->addr, gai_strerror(g));
    int one = 1;
    srv->ipv6 = ai->ai_family == AF_INET6;
    srv->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int ok =
        srv->fd >= 0 && setsockopt(srv->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == 0 &&
        (!srv->ipv6 || setsockopt(srv->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) == 0) &&
        bind(srv->fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(srv->fd, BACKLOG) == 0;
    int e = errno;
    freeaddrinfo(ai);
    if (ok)
        return 0;
    return cli_fail_os(srv->app, "sync", "cannot listen on %s: %s", srv->addr, strerror(e));
}

int cli_server_bind(cli *app, const char *addr, int from_flag, cli_server **out)
{
    char host[256];
    int port = 0;
    lc_error e;
    if (lc_listen_parse(addr, host, sizeof(host), &port, &e) != LC_OK)
        return addr_error(app, from_flag, addr, e.message);
    /* A missing library is the installation's fault, not the address's: a
     * configuration error either way. */
    memset(&e, 0, sizeof(e));
    if (load_mhd(e.message, sizeof(e.message)) != 0) {
        e.code = LC_ERR_CONFIG;
        return cli_fail(app, "sync", NULL, &e);
    }
    cli_server *srv = calloc(1, sizeof(*srv));
    if (srv == NULL) {
        fprintf(stderr, "lockcoord: sync: out of memory\n");
        return EXIT_INTERNAL;
    }
    srv->app = app;
    srv->fd = -1;
    snprintf(srv->addr, sizeof(srv->addr), "%s", addr);
    int rc = listen_on(srv, host, port, from_flag);
    if (rc != 0) {
        cli_server_stop(srv);
        return rc;
    }
    *out = srv;
    return 0;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, size_t len)
{
    struct MHD_Response *r =
        mhd.create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return MHD_NO;
    mhd.add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    mhd.add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        mhd.add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    enum MHD_Result ret = mhd.queue_response(c, status, r);
    mhd.destroy_response(r);
    return ret;
}

static enum MHD_Result reply_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    return reply(c, status, "text/plain; charset=utf-8", text, strlen(text));
}

static enum MHD_Result serve_metrics(cli_server *srv, struct MHD_Connection *c)
{
    char *text = NULL;
    size_t len = 0;
    lc_error e;
    if (lc_sync_metrics(srv->engine, &text, &len, &e) != LC_OK)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    enum MHD_Result ret = reply(c, MHD_HTTP_OK, METRICS_TYPE, text, len);
    free(text);
    return ret;
}

/* {"status":"ok"|"unhealthy","backend":"ok"|"unavailable","jobs":N,
 * "overdue":N,"checked_at":RFC3339|null[,"reason":".."]} */
static char *health_json(const lc_sync_health_report *h)
{
    char t[40];
    cJSON *o = cJSON_CreateObject();
    if (o == NULL)
        return NULL;
    cJSON_AddStringToObject(o, "status", h->ok ? "ok" : "unhealthy");
    cJSON_AddStringToObject(o, "backend", h->backend_ok ? "ok" : "unavailable");
    cJSON_AddNumberToObject(o, "jobs", (double)h->jobs);
    cJSON_AddNumberToObject(o, "overdue", (double)h->overdue);
    if (h->checked_at_ms > 0)
        cJSON_AddStringToObject(o, "checked_at", lc_time_format(h->checked_at_ms, t, sizeof(t)));
    else
        cJSON_AddNullToObject(o, "checked_at");
    if (!h->ok)
        cJSON_AddStringToObject(o, "reason", h->reason);
    char *raw = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    /* The reason quotes the backend's messages: valid UTF-8 only. */
    char *s = raw ? lc_text_utf8(raw) : NULL;
    free(raw);
    return s;
}

static enum MHD_Result serve_health(cli_server *srv, struct MHD_Connection *c)
{
    lc_sync_health_report h;
    lc_error e;
    char *body = NULL;
    if (lc_sync_check_health(srv->engine, &h, &e) != LC_OK || (body = health_json(&h)) == NULL)
        return reply_text(c, MHD_HTTP_INTERNAL_SERVER_ERROR, "out of memory\n");
    size_t n = strlen(body);
    char *line = realloc(body, n + 2); /* a newline, for curl on a terminal */
    if (line) {
        body = line;
        memcpy(body + n, "\n", 2);
        n++;
    }
    enum MHD_Result ret =
        reply(c, h.ok ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, "application/json", body, n);
    free(body);
    return ret;
}

/* The whole request is answered at its first call: a GET needs no body,
 * and for anything else libmicrohttpd closes the connection instead of
 * reading what the client sends. */
static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    (void)upload;
    (void)upload_size;
    (void)con_cls;
    cli_server *srv = cls;
    if (strcmp(method, MHD_HTTP_METHOD_GET) != 0 && strcmp(method, MHD_HTTP_METHOD_HEAD) != 0)
        return reply_text(c, MHD_HTTP_METHOD_NOT_ALLOWED, "method not allowed: GET or HEAD\n");
    if (strcmp(url, "/metrics") == 0)
        return serve_metrics(srv, c);
    if (strcmp(url, "/healthz") == 0)
        return serve_health(srv, c);
    return reply_text(c, MHD_HTTP_NOT_FOUND, "not found: try /metrics or /healthz\n");
}

/* libmicrohttpd's own complaints (a client that went away, a connection
 * over the limit), at debug level. */
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    size_t n = strlen(msg);
    while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == '\r'))
        msg[--n] = '\0';
    char line[600];
    snprintf(line, sizeof(line), "http: %s", msg);
    cli_log(cls, LC_LOG_DEBUG, line);
}

int cli_server_start(cli_server *srv, lc_sync *engine)
{
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION |
                     MHD_USE_POLL | MHD_USE_ERROR_LOG | (srv->ipv6 ? MHD_USE_IPv6 : 0);
    srv->engine = engine;
    /* Its threads take no signal meant for the process (they inherit this
     * mask): SIGTERM reaches the daemon's own handler as before. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    srv->daemon = mhd.start_daemon(
        flags, 0, NULL, NULL, on_request, srv, MHD_OPTION_LISTEN_SOCKET, srv->fd,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)CONN_LIMIT, MHD_OPTION_CONNECTION_TIMEOUT,
        (unsigned)CONN_TIMEOUT_S, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, srv->app, MHD_OPTION_END);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (srv->daemon == NULL)
        return cli_fail_os(srv->app, "sync", "cannot serve on %s: libmicrohttpd did not start",
                           srv->addr);
    srv->fd = -1; /* the daemon's now: it closes it */
    char msg[400];
    snprintf(msg, sizeof(msg), "serving /metrics and /healthz on %s", srv->addr);
    cli_log(srv->app, LC_LOG_INFO, msg);
    return 0;
}

void cli_server_stop(cli_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->daemon)
        mhd.stop_daemon(srv->daemon);
    if (srv->fd >= 0)
        close(srv->fd);
    free(srv);
}
