/* sync/curl_dl_int.h -- libcurl, loaded when it is first needed
 * (sync/curl_dl.c).
 *
 * Only http jobs use libcurl: their transfers (sync/http_job.c) and the
 * check of their URLs when a config is loaded (config/job.c). Linking it
 * would make every command load it and the libraries it links (TLS, SSH,
 * HTTP/2, compression) at start; loading it on demand keeps `lockcoord
 * run` and the lock commands small. The build still uses curl's headers
 * for its types and constants.
 *
 * Callers call lc__curl_load first, then the functions of the lc__curl
 * table: lc__curl.easy_init() for curl_easy_init(), and so on. */
#ifndef LC_CURL_DL_INT_H
#define LC_CURL_DL_INT_H

#include "lockcoord.h"

#include <curl/curl.h>

/* The libcurl functions lockcoord uses, each named as its curl_ function
 * without the prefix. */
typedef struct lc__curl_api {
    CURLcode (*global_init)(long flags); /* called by lc__curl_load */
    CURL *(*easy_init)(void);
    CURLcode (*easy_setopt)(CURL *e, CURLoption option, ...);
    CURLcode (*easy_getinfo)(CURL *e, CURLINFO info, ...);
    void (*easy_cleanup)(CURL *e);
    const char *(*easy_strerror)(CURLcode code);
    char *(*easy_escape)(CURL *e, const char *s, int len);
    void (*free)(void *p);

    CURLM *(*multi_init)(void);
    CURLMcode (*multi_add_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_remove_handle)(CURLM *m, CURL *e);
    CURLMcode (*multi_perform)(CURLM *m, int *running);
    CURLMcode (*multi_poll)(CURLM *m, struct curl_waitfd extra[], unsigned int n_extra,
                            int timeout_ms, int *numfds);
    CURLMsg *(*multi_info_read)(CURLM *m, int *left);
    CURLMcode (*multi_cleanup)(CURLM *m);
    const char *(*multi_strerror)(CURLMcode code);

    struct curl_slist *(*slist_append)(struct curl_slist *list, const char *s);
    void (*slist_free_all)(struct curl_slist *list);

    CURLU *(*url)(void);
    CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
    CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **out, unsigned int flags);
    void (*url_cleanup)(CURLU *u);
    const char *(*url_strerror)(CURLUcode code);
} lc__curl_api;

/* Filled by the first successful lc__curl_load; read it only after a call
 * of lc__curl_load has returned LC_OK (that call orders the reads after
 * the writes, in any thread). */
extern lc__curl_api lc__curl;

/* Loads libcurl.so.4 (dlopen, RTLD_NOW | RTLD_LOCAL) the first time it is
 * called, in whichever thread, resolves the functions above and calls
 * curl_global_init; later calls return what the first one found.
 * On failure returns LC_ERR_UNAVAILABLE with a one-line message naming the
 * library and what the dynamic loader said (or what curl_global_init
 * returned). The library stays loaded until the process ends. */
lc_status lc__curl_load(lc_error *err);

/* For tests: the file name lc__curl_load opens instead of libcurl.so.4.
 * Only before the first lc__curl_load of the process. */
void lc__curl_set_soname(const char *soname);

#endif
