/* backends/postgres/pq_dl.c -- libpq loaded on demand (see pq_dl_int.h):
 * once per process, under pthread_once, never unloaded. */
#define LC_PQ_DIRECT /* PQclear here is libpq's own name, not the slot */
#include "backends/postgres/pq_dl_int.h"

#include "core/dl_int.h"
#include "core/error_int.h"

#include <stddef.h>

#define SONAME "libpq.so.5"

lc__pq_api lc__pq;

/* Every slot of lc__pq, by the name of its PQ function. */
#define FUNCTIONS(X)                                                                               \
    X(connectdbParams)                                                                             \
    X(finish)                                                                                      \
    X(status)                                                                                      \
    X(transactionStatus)                                                                           \
    X(errorMessage)                                                                                \
    X(host)                                                                                        \
    X(port)                                                                                        \
    X(socket)                                                                                      \
    X(setnonblocking)                                                                              \
    X(setNoticeReceiver)                                                                           \
    X(conninfoParse)                                                                               \
    X(conninfoFree)                                                                                \
    X(escapeIdentifier)                                                                            \
    X(freemem)                                                                                     \
    X(exec)                                                                                        \
    X(prepare)                                                                                     \
    X(execPrepared)                                                                                \
    X(sendPrepare)                                                                                 \
    X(sendQueryParams)                                                                             \
    X(serverVersion)                                                                               \
    X(sendQueryPrepared)                                                                           \
    X(flush)                                                                                       \
    X(consumeInput)                                                                                \
    X(isBusy)                                                                                      \
    X(getResult)                                                                                   \
    X(notifies)                                                                                    \
    X(getCancel)                                                                                   \
    X(cancel)                                                                                      \
    X(freeCancel)                                                                                  \
    X(resultStatus)                                                                                \
    X(resultErrorMessage)                                                                          \
    X(resultErrorField)                                                                            \
    X(ntuples)                                                                                     \
    X(nfields)                                                                                     \
    X(getvalue)                                                                                    \
    X(getisnull)                                                                                   \
    X(cmdTuples)                                                                                   \
    X(clear)

/* Each slot has its function's type as libpq-fe.h declares it: the
 * compiler checks the assignment inside sizeof, which it never runs, so
 * the check costs no reference to libpq. */
#define SAME_TYPE(name) _Static_assert(sizeof(lc__pq.name = PQ##name) != 0, "the type of PQ" #name);
FUNCTIONS(SAME_TYPE)

#define ENTRY(name) {"PQ" #name, offsetof(lc__pq_api, name)},

static const lc__dl_fn functions[] = {FUNCTIONS(ENTRY)};

_Static_assert(sizeof(functions) / sizeof(functions[0]) == sizeof(lc__pq_api) / sizeof(void *),
               "every slot of lc__pq is resolved");

static const char *soname = SONAME;
static lc__dl_once loaded = LC__DL_ONCE_INIT;

static void load(void)
{
    lc__pq_api api;
    lc_error e;
    size_t n = sizeof(functions) / sizeof(functions[0]);
    if (lc__dl_load(soname, "libpq", "the postgres backend", functions, n, &api, &e) != LC_OK) {
        lc__strlcpy(loaded.msg, e.message, sizeof(loaded.msg));
        return;
    }
    lc__pq = api;
    loaded.rc = LC_OK;
}

lc_status lc__pq_load(lc_error *err)
{
    return lc__dl_once_run(&loaded, load, err);
}

void lc__pq_set_soname(const char *name)
{
    soname = name;
}
