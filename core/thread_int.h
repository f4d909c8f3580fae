/* core/thread_int.h -- the library's threads. */
#ifndef LC_THREAD_INT_H
#define LC_THREAD_INT_H

#include <pthread.h>

/* pthread_create with every signal blocked in the new thread, so that a
 * signal meant for the process reaches the application's own threads:
 * one that blocks SIGINT and reads it from a signalfd, or handles it in
 * a thread of its choosing, must not have it taken (or, when ignored,
 * dropped) by a thread of the library's. Returns pthread_create's
 * result. */
int lc__thread_start(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *), void *arg);

#endif
