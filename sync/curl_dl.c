/* sync/curl_dl.c -- libcurl loaded on demand (see curl_dl_int.h): once per
 * process, under pthread_once, never unloaded. */
#include "sync/curl_dl_int.h"

#include "core/error_int.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#define SONAME "libcurl.so.4"

lc__curl_api lc__curl;

/* dlsym hands out object pointers; POSIX makes them hold function
 * pointers, which the table's slots are. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers fit in void *");

#define FN(name) "curl_" #name, offsetof(lc__curl_api, name)

static const struct {
    const char *symbol;
    size_t offset;
} functions[] = {
    {FN(global_init)},
    {FN(easy_init)},
    {FN(easy_setopt)},
    {FN(easy_getinfo)},
    {FN(easy_cleanup)},
    {FN(easy_strerror)},
    {FN(easy_escape)},
    {FN(free)},
    {FN(multi_init)},
    {FN(multi_add_handle)},
    {FN(multi_remove_handle)},
    {FN(multi_perform)},
    {FN(multi_poll)},
    {FN(multi_info_read)},
    {FN(multi_cleanup)},
    {FN(multi_strerror)},
    {FN(slist_append)},
    {FN(slist_free_all)},
    {FN(url)},
    {FN(url_set)},
    {FN(url_get)},
    {FN(url_cleanup)},
    {FN(url_strerror)},
};

static pthread_once_t once = PTHREAD_ONCE_INIT;
static const char *soname = SONAME;
static lc_status load_rc = LC_ERR_UNAVAILABLE; /* and load_msg: what the first call found */
static char load_msg[sizeof(((lc_error *)0)->message)];

static void fail(const char *what, const char *why)
{
    snprintf(load_msg, sizeof(load_msg), "%s (needed by http jobs) %s: %s", soname, what,
             why ? why : "unknown error");
}

static void load(void)
{
    lc__curl_api api;
    void *lib = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (lib == NULL) {
        fail("cannot be loaded", dlerror());
        return;
    }
    for (size_t i = 0; i < sizeof(functions) / sizeof(functions[0]); i++) {
        void *f = dlsym(lib, functions[i].symbol);
        if (f == NULL) {
            fail("is too old or not libcurl", dlerror());
            return;
        }
        memcpy((char *)&api + functions[i].offset, &f, sizeof(f));
    }
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        fail("cannot be set up", api.easy_strerror(rc));
        return;
    }
    lc__curl = api;
    load_rc = LC_OK;
}

lc_status lc__curl_load(lc_error *err)
{
    pthread_once(&once, load);
    if (load_rc == LC_OK)
        return LC_OK;
    return lc__err(err, load_rc, 0, "%s", load_msg);
}

void lc__curl_set_soname(const char *name)
{
    soname = name;
}
