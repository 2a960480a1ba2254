/* The per-thread arena and the parallel loops of Graft's C kernels and elementwise loops.
 *
 * Loops run on the OpenMP team of the runtime oneDNN loads (libgomp with Debian's libdnnl),
 * found at run time, so that no second pool competes with oneDNN's threads. A process without an
 * OpenMP runtime, as a build without oneDNN is, runs them on a small pool of its own instead,
 * whose idle threads sleep (as OpenMP's do with OMP_WAIT_POLICY=passive). */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* sched_getaffinity, RTLD_DEFAULT */
#endif
#include "graft_kernels.h"

#include <dlfcn.h>
#include <pthread.h>
#include <sched.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

static _Thread_local char *arena = NULL;
static _Thread_local size_t arena_size = 0;

void *graft_arena(size_t bytes) {
    if (bytes > arena_size) {
        free(arena);
        /* 2 MB-aligned on transparent huge pages: far fewer page faults on first touch. */
        size_t huge = (size_t)2 << 20, rounded = (bytes + huge - 1) / huge * huge;
        arena = aligned_alloc(huge, rounded);
#ifdef MADV_HUGEPAGE
        if (arena) madvise(arena, rounded, MADV_HUGEPAGE);
#endif
        arena_size = arena ? rounded : 0;
    }
    return arena;
}

typedef struct part_job {
    graft_part_fn fn;
    void *ctx;
    long count, granule;
} part_job;

/* Chunk `part` of `parts`. */
static void run_part(const part_job *job, long part, long parts) {
    long units = (job->count + job->granule - 1) / job->granule;
    long start = units * part / parts * job->granule;
    long end = units * (part + 1) / parts * job->granule;
    if (end > job->count) end = job->count;
    if (start < end) job->fn(job->ctx, (int)part, start, end);
}

/* ---- the OpenMP team: runtime entry points, looked up in the libgomp that libdnnl loaded ---- */

typedef void (*gomp_parallel_fn)(void (*)(void *), void *, unsigned, unsigned);
typedef int (*omp_int_fn)(void);
static pthread_once_t threads_once = PTHREAD_ONCE_INIT;
static gomp_parallel_fn gomp_parallel = NULL;
static omp_int_fn omp_thread_num = NULL, omp_num_threads = NULL, omp_max_threads = NULL;

static void part_worker(void *p) {
    run_part(p, omp_thread_num(), omp_num_threads());
}

/* ---- Graft's own pool, where no OpenMP runtime is loaded ----
 * The caller runs chunk 0 and workers 1 … team-1 the others. One loop at a time: a loop started
 * while another runs (from a worker, or from another thread) runs its chunks on its caller, one
 * after another. Its chunks are the same either way, so a sum made of chunks' partial sums does
 * not depend on what else the process runs. */

static int pool_size = 1; /* threads, the caller's included */
static pthread_mutex_t pool_busy = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t pool_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pool_wake = PTHREAD_COND_INITIALIZER, pool_done = PTHREAD_COND_INITIALIZER;
static const part_job *pool_job = NULL;
static int pool_team = 0;             /* threads in the current loop, the caller's included */
static int pool_running = 0;          /* its workers still running */
static unsigned long pool_loop = 0;   /* loops started, so that a worker tells a new one from the last */

static void *pool_worker(void *arg) {
    const int index = (int)(intptr_t)arg;
    unsigned long seen = 0;
    pthread_mutex_lock(&pool_lock);
    for (;;) {
        while (pool_loop == seen) pthread_cond_wait(&pool_wake, &pool_lock);
        seen = pool_loop;
        if (index >= pool_team) continue;
        const part_job *job = pool_job;
        const int team = pool_team;
        pthread_mutex_unlock(&pool_lock);
        run_part(job, index, team);
        pthread_mutex_lock(&pool_lock);
        if (--pool_running == 0) pthread_cond_signal(&pool_done);
    }
    return NULL;
}

/* OMP_NUM_THREADS when set, else the cores this process may run on. */
static int cores(void) {
    const char *env = getenv("OMP_NUM_THREADS");
    int n = env ? atoi(env) : 0;
    if (n > 0) return n;
#ifdef __linux__
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
#endif
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    return online > 0 ? (int)online : 1;
}

static void start_pool(void) {
    int wanted = cores();
    if (wanted > 256) wanted = 256;
    for (int i = 1; i < wanted; i++) {
        pthread_t thread;
        if (pthread_create(&thread, NULL, pool_worker, (void *)(intptr_t)i) != 0) break;
        pthread_detach(thread);
        pool_size = i + 1;
    }
}

/* Runs job over `team` threads of the pool; 0 when the pool is running another loop. */
static int pool_run(const part_job *job, int team) {
    if (pthread_mutex_trylock(&pool_busy) != 0) return 0;
    pthread_mutex_lock(&pool_lock);
    pool_job = job;
    pool_team = team;
    pool_running = team - 1;
    pool_loop++;
    pthread_cond_broadcast(&pool_wake);
    pthread_mutex_unlock(&pool_lock);
    run_part(job, 0, team);
    pthread_mutex_lock(&pool_lock);
    while (pool_running > 0) pthread_cond_wait(&pool_done, &pool_lock);
    pthread_mutex_unlock(&pool_lock);
    pthread_mutex_unlock(&pool_busy);
    return 1;
}

/* ---- the loops ---- */

static void find_threads(void) {
    gomp_parallel = (gomp_parallel_fn)dlsym(RTLD_DEFAULT, "GOMP_parallel");
    omp_thread_num = (omp_int_fn)dlsym(RTLD_DEFAULT, "omp_get_thread_num");
    omp_num_threads = (omp_int_fn)dlsym(RTLD_DEFAULT, "omp_get_num_threads");
    omp_max_threads = (omp_int_fn)dlsym(RTLD_DEFAULT, "omp_get_max_threads");
    if (!omp_thread_num || !omp_num_threads || !omp_max_threads) gomp_parallel = NULL;
    if (!gomp_parallel) start_pool();
}

int graft_parallel_threads(void) {
    pthread_once(&threads_once, find_threads);
    return gomp_parallel ? omp_max_threads() : pool_size;
}

void graft_parallel_parts(long count, long granule, int parts, graft_part_fn fn, void *ctx) {
    if (granule < 1) granule = 1;
    long units = (count + granule - 1) / granule;
    int threads = graft_parallel_threads();
    if (parts < threads) threads = parts;
    if (threads < 2 || units < 2) {
        if (count > 0) fn(ctx, 0, 0, count);
        return;
    }
    part_job job = {fn, ctx, count, granule};
    /* The team may be smaller than asked for, never larger: every index stays below `parts`. */
    int team = units < threads ? (int)units : threads;
    if (gomp_parallel)
        gomp_parallel(part_worker, &job, (unsigned)team, 0);
    else if (!pool_run(&job, team))
        for (int part = 0; part < team; part++) run_part(&job, part, team);
}

typedef struct chunk_job {
    graft_chunk_fn fn;
    void *ctx;
} chunk_job;

static void chunk_worker(void *ctx, int part, long start, long end) {
    (void)part;
    const chunk_job *job = ctx;
    job->fn(job->ctx, start, end);
}

void graft_parallel_chunks(long count, long granule, graft_chunk_fn fn, void *ctx) {
    chunk_job job = {fn, ctx};
    graft_parallel_parts(count, granule, graft_parallel_threads(), chunk_worker, &job);
}
