/* core/token.c -- 128 random bits from the OS, as 32 lowercase hex chars.
 *
 * The bits come from getrandom(2), read a pool of POOL_SIZE bytes at a
 * time into one pool for the process, under a mutex: one system call per
 * POOL_SIZE / 16 tokens instead of one per token. They are still the
 * kernel's CSPRNG output, each byte handed out once and wiped from the
 * pool as it goes. A forked child must never hand out bytes its parent
 * will hand out too: the pthread_atfork handlers hold the mutex across
 * fork(2) and empty the child's pool. Should registering them fail, every
 * token reads its own bytes, as if there were no pool. */
#include "core/error_int.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/random.h>

#define POOL_SIZE 4096
#define RAW_SIZE  (LC_TOKEN_LEN / 2)

static pthread_mutex_t pool_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t pool_once = PTHREAD_ONCE_INIT;
static int pool_usable; /* the fork handlers are in place */
static unsigned char pool[POOL_SIZE];
static size_t pool_left; /* unused bytes, at the pool's end */

static void before_fork(void)
{
    pthread_mutex_lock(&pool_mu);
}

static void after_fork_parent(void)
{
    pthread_mutex_unlock(&pool_mu);
}

static void after_fork_child(void)
{
    explicit_bzero(pool, sizeof(pool));
    pool_left = 0;
    pthread_mutex_unlock(&pool_mu);
}

static void pool_init(void)
{
    pool_usable = pthread_atfork(before_fork, after_fork_parent, after_fork_child) == 0;
}

/* n bytes from getrandom(2); 0, or the errno of its failure. */
static int read_random(unsigned char *buf, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(buf + got, n - got, 0);
        if (r < 0 && errno != EINTR)
            return errno;
        got += r > 0 ? (size_t)r : 0;
    }
    return 0;
}

/* RAW_SIZE bytes into raw, from the pool (filled when it runs short). */
static int take_random(unsigned char raw[RAW_SIZE])
{
    pthread_once(&pool_once, pool_init);
    if (!pool_usable)
        return read_random(raw, RAW_SIZE);
    int e = 0;
    pthread_mutex_lock(&pool_mu);
    if (pool_left < RAW_SIZE) {
        e = read_random(pool, sizeof(pool));
        pool_left = e == 0 ? sizeof(pool) : 0;
    }
    if (e == 0) {
        unsigned char *p = pool + sizeof(pool) - pool_left;
        memcpy(raw, p, RAW_SIZE);
        explicit_bzero(p, RAW_SIZE);
        pool_left -= RAW_SIZE;
    }
    pthread_mutex_unlock(&pool_mu);
    return e;
}

lc_status lc_token_new(char out[LC_TOKEN_LEN + 1], lc_error *err)
{
    static const char hex[] = "0123456789abcdef";
    unsigned char raw[RAW_SIZE];
    int e = take_random(raw);
    if (e != 0)
        return lc__err(err, LC_ERR_INTERNAL, e, "getrandom: %s", strerror(e));
    for (size_t i = 0; i < sizeof(raw); i++) {
        out[2 * i] = hex[raw[i] >> 4];
        out[2 * i + 1] = hex[raw[i] & 15];
    }
    out[LC_TOKEN_LEN] = '\0';
    explicit_bzero(raw, sizeof(raw));
    return LC_OK;
}
lc_status lc_token_check(const char *token, lc_error *err)
{
    size_t n = token ? strlen(token) : 0;
    if (n == 0)
        return lc__err(err, LC_ERR_INVALID, 0, "missing token");
    if (n != LC_TOKEN_LEN)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid token: expected %d lowercase hex characters, got %zu", LC_TOKEN_LEN,
                       n);
    size_t hex = strspn(token, "0123456789abcdef");
    if (hex != n)
        return lc__err(err, LC_ERR_INVALID, 0,
                       "invalid token: expected lowercase hex characters, got byte 0x%02x at %zu",
                       (unsigned char)token[hex], hex);
    return LC_OK;
}
