/* sync/curl_dl.c -- libcurl loaded on demand (see curl_dl_int.h): once per
 * process, under pthread_once, never unloaded. */
#include "sync/curl_dl_int.h"

#include "core/dl_int.h"
#include "core/error_int.h"

#include <stddef.h>
#include <stdio.h>

#define SONAME "libcurl.so.4"

lc__curl_api lc__curl;

#define FN(name) "curl_" #name, offsetof(lc__curl_api, name)

static const lc__dl_fn functions[] = {
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

static const char *soname = SONAME;
static lc__dl_once loaded = LC__DL_ONCE_INIT;

static void load(void)
{
    lc__curl_api api;
    lc_error e;
    size_t n = sizeof(functions) / sizeof(functions[0]);
    if (lc__dl_load(soname, "libcurl", "http jobs", functions, n, &api, &e) != LC_OK) {
        lc__strlcpy(loaded.msg, e.message, sizeof(loaded.msg));
        return;
    }
    CURLcode rc = api.global_init(CURL_GLOBAL_DEFAULT);
    if (rc != CURLE_OK) {
        snprintf(loaded.msg, sizeof(loaded.msg), "%s (needed by http jobs) cannot be set up: %s",
                 soname, api.easy_strerror(rc));
        return;
    }
    lc__curl = api;
    loaded.rc = LC_OK;
}

lc_status lc__curl_load(lc_error *err)
{
    return lc__dl_once_run(&loaded, load, err);
}

void lc__curl_set_soname(const char *name)
{
    soname = name;
}
