/* tests/conformance/testenv.c -- shared test helpers. */
#include "testenv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *server_var(const char *backend)
{
    if (strcmp(backend, "redis") == 0)
        return "LOCKCOORD_TEST_REDIS_URL";
    if (strcmp(backend, "redis-cluster") == 0)
        return "LOCKCOORD_TEST_REDIS_CLUSTER_URL";
    if (strcmp(backend, "redis-quorum") == 0)
        return "LOCKCOORD_TEST_REDIS_QUORUM_URLS";
    if (strcmp(backend, "postgres") == 0)
        return "LOCKCOORD_TEST_PG_CONNINFO";
    return NULL;
}

int lct_backend_missing(const char *backend)
{
    const char *var = server_var(backend);
    if (var == NULL || (getenv(var) && *getenv(var)))
        return 0;
    const char *skip = getenv("LOCKCOORD_SKIP_INTEGRATION");
    if (skip && strcmp(skip, "1") == 0)
        return 1;
    fail_msg("%s is not set: integration tests need a real %s server "
             "(run ./scripts/test.sh, or set LOCKCOORD_SKIP_INTEGRATION=1 on purpose)",
             var, backend);
    return 1;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        fail_msg("out of memory");
    return d;
}

static uint32_t rand32(void)
{
    uint32_t r = 0;
    if (getrandom(&r, sizeof(r), 0) != sizeof(r))
        r = (uint32_t)time(NULL);
    return r;
}

/* "redis-cluster" is the Redis backend with redis.cluster set. */
static int is_cluster(const char *backend)
{
    return strcmp(backend, "redis-cluster") == 0;
}

/* "redis-quorum" is the Redis backend with redis.quorum. */
static int is_quorum(const char *backend)
{
    return strcmp(backend, "redis-quorum") == 0;
}

void lct_set_quorum(lc_config *cfg, const char *urls)
{
    static const char sep[] = " \t\n,";
    size_t n = 0;
    char **list = calloc(LCT_QUORUM_MAX + 1, sizeof(char *));
    if (list == NULL)
        fail_msg("out of memory");
    for (const char *p = urls + strspn(urls, sep); *p && n < LCT_QUORUM_MAX; p += strspn(p, sep)) {
        size_t len = strcspn(p, sep);
        list[n] = strndup(p, len);
        if (list[n++] == NULL)
            fail_msg("out of memory");
        p += len;
    }
    free(cfg->redis.url);
    cfg->redis.url = NULL;
    for (size_t i = 0; i < cfg->redis.n_quorum; i++)
        free(cfg->redis.quorum[i]);
    free(cfg->redis.quorum);
    cfg->redis.quorum = list;
    cfg->redis.n_quorum = n;
}

static lc_config *config_new(const char *backend)
{
    lc_config *cfg = lc_config_new(is_cluster(backend) || is_quorum(backend) ? "redis" : backend);
    if (cfg == NULL)
        fail_msg("out of memory");
    cfg->redis.cluster = is_cluster(backend);
    return cfg;
}

lc_config *lct_config(const char *backend)
{
    lc_config *cfg = config_new(backend);
    cfg->lock.retry_min_ms = 20;
    cfg->lock.retry_max_ms = 200;
    const char *var = server_var(backend);
    if (var == NULL)
        return cfg;
    const char *val = getenv(var);
    if (val == NULL || *val == '\0')
        fail_msg("%s is not set", var);
    if (strcmp(cfg->backend, "redis") == 0) {
        static char prefix[64];
        if (prefix[0] == '\0')
            snprintf(prefix, sizeof(prefix), "lctest-%ld-%08x", (long)getpid(), rand32());
        if (is_quorum(backend))
            lct_set_quorum(cfg, val);
        else
            cfg->redis.url = xstrdup(val);
        free(cfg->redis.key_prefix);
        cfg->redis.key_prefix = xstrdup(prefix);
    } else {
        cfg->postgres.conninfo = xstrdup(val);
    }
    return cfg;
}

/* A loopback TCP port nothing listens on: bound by the kernel's choice,
 * then closed (no one else takes it in the moment a test needs). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        fail_msg("socket: out of descriptors?");
    struct sockaddr_in a;
    memset(&a, 0, sizeof(a));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(a);
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0)
        fail_msg("binding a loopback port failed");
    close(fd);
    return ntohs(a.sin_port);
}

lc_config *lct_config_down(const char *backend)
{
    if (server_var(backend) == NULL)
        return NULL;
    lc_config *cfg = config_new(backend);
    char addr[256];
    int port = free_port();
    if (strcmp(cfg->backend, "redis") == 0) {
        snprintf(addr, sizeof(addr), "redis://:%s@127.0.0.1:%d/0", LCT_DOWN_SECRET, port);
        if (is_quorum(backend)) {
            char more[3 * 256];
            snprintf(more, sizeof(more), "%s %s %s", addr, addr, addr);
            lct_set_quorum(cfg, more);
        } else {
            cfg->redis.url = xstrdup(addr);
        }
    } else {
        snprintf(addr, sizeof(addr),
                 "host=127.0.0.1 port=%d dbname=lockcoord user=lockcoord password=%s", port,
                 LCT_DOWN_SECRET);
        cfg->postgres.conninfo = xstrdup(addr);
    }
    return cfg;
}

const char *lct_name(const char *prefix)
{
    static char buf[LC_NAME_MAX + 1];
    static unsigned counter;
    snprintf(buf, sizeof(buf), "%s/%ld-%u-%08x", prefix, (long)getpid(), ++counter, rand32());
    return buf;
}

static int64_t fake_mono(void *ctx)
{
    return ((lct_clock *)ctx)->mono_ns;
}

static int64_t fake_wall(void *ctx)
{
    return ((lct_clock *)ctx)->wall_ms;
}

void lct_clock_init(lct_clock *fc)
{
    fc->clock.mono_ns = fake_mono;
    fc->clock.wall_ms = fake_wall;
    fc->clock.ctx = fc;
    fc->mono_ns = 1000000000;    /* 1 s after "boot" */
    fc->wall_ms = 1798675200000; /* 2027-01-01T00:00:00Z */
}

void lct_clock_advance(lct_clock *fc, int64_t ms)
{
    fc->mono_ns += ms * 1000000;
    fc->wall_ms += ms;
}

int64_t lct_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void lct_sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

int lct_wait_for(int (*cond)(void *arg), void *arg, int64_t deadline_ms)
{
    int64_t until = lct_now_ms() + deadline_ms;
    for (;;) {
        if (cond(arg))
            return 1;
        if (lct_now_ms() >= until)
            return 0;
        lct_sleep_ms(5);
    }
}

int lct_mapped(const char *lib)
{
    char needle[256];
    snprintf(needle, sizeof(needle), "/%s", lib);
    FILE *f = fopen("/proc/self/maps", "r");
    assert_non_null(f);
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof(line), f))
        found = strstr(line, needle) != NULL;
    fclose(f);
    return found;
}

void lct_assert_prefix(const char *got, const char *want)
{
    if (strncmp(got, want, strlen(want)) != 0)
        fail_msg("got \"%s\"\nwant \"%s...\"", got, want);
    if (strchr(got, '\n') != NULL)
        fail_msg("more than one line: \"%s\"", got);
}
