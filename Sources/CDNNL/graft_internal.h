#ifndef GRAFT_INTERNAL_H
#define GRAFT_INTERNAL_H
/* What graft_dnnl.c lends graft_winograd.c; not part of the API Swift sees. */
#include <stddef.h>

/* This thread's arena, grown to at least `bytes` (2 MB-aligned, on transparent huge pages) and
 * kept for the next call, so that a layer's buffers are not faulted in afresh on every call. It
 * holds one call's buffers at a time: a oneDNN primitive's scratchpad and reordered arguments,
 * or the slab Graft's Winograd hands its workers. NULL when it cannot grow. */
void *graft_arena(size_t bytes);

/* As graft_parallel_chunks, over at most `parts` chunks, and fn learns its chunk's index, below
 * `parts`: the slice of a buffer allocated before the call that is its own. */
typedef void (*graft_part_fn)(void *ctx, int part, long start, long end);
void graft_parallel_parts(long count, long granule, int parts, graft_part_fn fn, void *ctx);

#endif
