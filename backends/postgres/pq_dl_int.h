/* backends/postgres/pq_dl_int.h -- libpq, loaded when it is first needed
 * (backends/postgres/pq_dl.c).
 *
 * Only the Postgres backend uses libpq: its connection and statements, and
 * the check of postgres.conninfo when a config is loaded
 * (config/limits.c). Linking it would make every command load it and the
 * libraries it links (LDAP, GnuTLS, OpenSSL, Kerberos: about 3 MiB of
 * RSS) at start, a Redis `lockcoord run` included; loading it on demand
 * keeps those for the commands that use Postgres. The build still uses
 * libpq's headers for its types and constants.
 *
 * Callers call lc__pq_load first (the backend's connect and the conninfo
 * check do), then call libpq as usual: below, each libpq function the
 * backend uses is a macro naming its slot in the lc__pq table, so
 * PQclear(r) is lc__pq.clear(r). A file that links libpq and calls it
 * directly (a test's own admin connection) defines LC_PQ_DIRECT before
 * including this header, and gets libpq's own functions.
 *
 * A libpq function not in the table is not redirected and fails to link
 * (nothing links libpq): add it to the table, to the list in pq_dl.c and
 * to the macros below. */
#ifndef LC_PQ_DL_INT_H
#define LC_PQ_DL_INT_H

#include "lockcoord.h"

#include <libpq-fe.h>

/* The libpq functions lockcoord uses, each named as its PQ function
 * without the prefix. */
typedef struct lc__pq_api {
    PGconn *(*connectdbParams)(const char *const *keywords, const char *const *values,
                               int expand_dbname);
    void (*finish)(PGconn *conn);
    ConnStatusType (*status)(const PGconn *conn);
    PGTransactionStatusType (*transactionStatus)(const PGconn *conn);
    char *(*errorMessage)(const PGconn *conn);
    char *(*host)(const PGconn *conn);
    char *(*port)(const PGconn *conn);
    int (*socket)(const PGconn *conn);
    int (*setnonblocking)(PGconn *conn, int arg);
    PQnoticeReceiver (*setNoticeReceiver)(PGconn *conn, PQnoticeReceiver proc, void *arg);

    PQconninfoOption *(*conninfoParse)(const char *conninfo, char **errmsg);
    void (*conninfoFree)(PQconninfoOption *options);
    char *(*escapeIdentifier)(PGconn *conn, const char *str, size_t len);
    void (*freemem)(void *ptr);

    PGresult *(*exec)(PGconn *conn, const char *query);
    PGresult *(*prepare)(PGconn *conn, const char *stmtName, const char *query, int nParams,
                         const Oid *paramTypes);
    PGresult *(*execPrepared)(PGconn *conn, const char *stmtName, int nParams,
                              const char *const *paramValues, const int *paramLengths,
                              const int *paramFormats, int resultFormat);
    int (*sendPrepare)(PGconn *conn, const char *stmtName, const char *query, int nParams,
                       const Oid *paramTypes);
    int (*sendQueryParams)(PGconn *conn, const char *command, int nParams, const Oid *paramTypes,
                           const char *const *paramValues, const int *paramLengths,
                           const int *paramFormats, int resultFormat);
    int (*serverVersion)(const PGconn *conn);
    int (*sendQueryPrepared)(PGconn *conn, const char *stmtName, int nParams,
                             const char *const *paramValues, const int *paramLengths,
                             const int *paramFormats, int resultFormat);
    int (*flush)(PGconn *conn);
    int (*consumeInput)(PGconn *conn);
    int (*isBusy)(PGconn *conn);
    PGresult *(*getResult)(PGconn *conn);
    PGnotify *(*notifies)(PGconn *conn);

    PGcancel *(*getCancel)(PGconn *conn);
    int (*cancel)(PGcancel *cancel, char *errbuf, int errbufsize);
    void (*freeCancel)(PGcancel *cancel);

    ExecStatusType (*resultStatus)(const PGresult *res);
    char *(*resultErrorMessage)(const PGresult *res);
    char *(*resultErrorField)(const PGresult *res, int fieldcode);
    int (*ntuples)(const PGresult *res);
    int (*nfields)(const PGresult *res);
    char *(*getvalue)(const PGresult *res, int tup_num, int field_num);
    int (*getisnull)(const PGresult *res, int tup_num, int field_num);
    char *(*cmdTuples)(PGresult *res);
    void (*clear)(PGresult *res);
} lc__pq_api;

/* Filled by the first successful lc__pq_load; read it only after a call
 * of lc__pq_load has returned LC_OK (that call orders the reads after the
 * writes, in any thread). */
extern lc__pq_api lc__pq;

/* Loads libpq.so.5 (dlopen, RTLD_NOW | RTLD_LOCAL) the first time it is
 * called, in whichever thread, and resolves the functions above; later
 * calls return what the first one found. On failure returns
 * LC_ERR_UNAVAILABLE with a one-line message naming the library and what
 * the dynamic loader said. The library stays loaded until the process
 * ends. */
lc_status lc__pq_load(lc_error *err);

/* For tests: the file name lc__pq_load opens instead of libpq.so.5. Only
 * before the first lc__pq_load of the process. */
void lc__pq_set_soname(const char *soname);

#ifndef LC_PQ_DIRECT
#define PQconnectdbParams    lc__pq.connectdbParams
#define PQfinish             lc__pq.finish
#define PQstatus             lc__pq.status
#define PQtransactionStatus  lc__pq.transactionStatus
#define PQerrorMessage       lc__pq.errorMessage
#define PQhost               lc__pq.host
#define PQport               lc__pq.port
#define PQsocket             lc__pq.socket
#define PQsetnonblocking     lc__pq.setnonblocking
#define PQsetNoticeReceiver  lc__pq.setNoticeReceiver
#define PQconninfoParse      lc__pq.conninfoParse
#define PQconninfoFree       lc__pq.conninfoFree
#define PQescapeIdentifier   lc__pq.escapeIdentifier
#define PQfreemem            lc__pq.freemem
#define PQexec               lc__pq.exec
#define PQprepare            lc__pq.prepare
#define PQexecPrepared       lc__pq.execPrepared
#define PQsendPrepare        lc__pq.sendPrepare
#define PQsendQueryParams    lc__pq.sendQueryParams
#define PQserverVersion      lc__pq.serverVersion
#define PQsendQueryPrepared  lc__pq.sendQueryPrepared
#define PQflush              lc__pq.flush
#define PQconsumeInput       lc__pq.consumeInput
#define PQisBusy             lc__pq.isBusy
#define PQgetResult          lc__pq.getResult
#define PQnotifies           lc__pq.notifies
#define PQgetCancel          lc__pq.getCancel
#define PQcancel             lc__pq.cancel
#define PQfreeCancel         lc__pq.freeCancel
#define PQresultStatus       lc__pq.resultStatus
#define PQresultErrorMessage lc__pq.resultErrorMessage
#define PQresultErrorField   lc__pq.resultErrorField
#define PQntuples            lc__pq.ntuples
#define PQnfields            lc__pq.nfields
#define PQgetvalue           lc__pq.getvalue
#define PQgetisnull          lc__pq.getisnull
#define PQcmdTuples          lc__pq.cmdTuples
#define PQclear              lc__pq.clear
#endif

#endif
