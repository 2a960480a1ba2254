#ifndef GRAFT_KERNELS_H
#define GRAFT_KERNELS_H
/* Graft's own C kernels, which need OpenBLAS and no oneDNN: its Winograd F(4,3) convolutions
 * (graft_winograd.c), and the per-thread arena and parallel loops (graft_parallel.c) that they,
 * the oneDNN layer (CDNNL) and Graft's elementwise loops share.
 *
 * Convolutions take Graft's NCHW/OIHW float32 tensors. */
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct graft_conv_shape {
    int batch, in_channels, height, width;
    int out_channels, kernel, stride, padding;
    int has_bias;   /* forward adds a bias; backward-weights also produces its gradient */
    int fuse_relu;  /* forward applies max(0, ·) to its output */
    int winograd;   /* oneDNN: try Winograd F(4,3) first (3×3 stride 1); direct when it is unavailable */
} graft_conv_shape;

/* Graft's Winograd cannot run this shape (another kernel can). */
#define GRAFT_UNSUPPORTED (-1)
/* Graft's Winograd could not allocate its workers' buffers. */
#define GRAFT_OUT_OF_MEMORY (-2)

/* Graft's own Winograd F(4,3), for 3×3 stride-1 convolutions with padding 0–2, on CPUs (or
 * builds) where oneDNN has none. 1 when the shape qualifies. The passes below return 0, or
 * GRAFT_UNSUPPORTED for a shape that does not qualify, or GRAFT_OUT_OF_MEMORY when this thread's
 * arena cannot grow to their workers' buffers. */
int graft_winograd_supported(const graft_conv_shape *shape);

/* Floats of the transformed-weights buffer `u` the two passes below need: 36·in·out. */
long graft_winograd_weight_floats(const graft_conv_shape *shape);

/* y[N,O,oh,ow] = conv(x[N,C,H,W], w[O,C,3,3]) (+ bias[O]) (then ReLU); u is scratch for the
 * transformed weights. */
int graft_winograd_forward(const graft_conv_shape *shape, const float *x, const float *w, const float *bias,
                           float *u, float *y);

/* The forward pass in two halves, so that inference can keep the transformed weights while the
 * weights are unchanged: u (graft_winograd_weight_floats floats) = the transform of w, which
 * depends on the channels alone (not on the batch or the image size); then y from x and that u,
 * as graft_winograd_forward gives it. */
int graft_winograd_transform_weights(const graft_conv_shape *shape, const float *w, float *u);
int graft_winograd_forward_transformed(const graft_conv_shape *shape, const float *x, const float *u,
                                       const float *bias, float *y);

/* dx[N,C,H,W] = conv-transpose(dy, w), overwritten; u is scratch for the transformed weights. */
int graft_winograd_backward_data(const graft_conv_shape *shape, const float *dy, const float *w, float *u,
                                 float *dx);

/* Floats of the buffer the weight gradient needs: its transformed sums and one block of
 * transformed tiles (at most 16 MB). */
long graft_winograd_weight_gradient_floats(const graft_conv_shape *shape);

/* dw[O,C,3,3] (and dbias[O] when has_bias) overwritten with this batch's gradient; buffer holds
 * graft_winograd_weight_gradient_floats floats. */
int graft_winograd_backward_weights(const graft_conv_shape *shape, const float *x, const float *dy, float *buffer,
                                    float *dw, float *dbias);

/* Convolutions with a tiny output map (at most GRAFT_SMALL_MAP_POSITIONS positions per image, any
 * kernel up to 7×7, any stride and padding), as one matrix product per output position over the
 * whole batch, on the taps that read inside the image only (graft_smallmap.c). Buffers come from
 * this thread's arena. The forward pass overwrites y (bias and ReLU as the shape says); the input
 * gradient overwrites dx; the weight gradient is added into dw (and dbias when has_bias). Each
 * returns 0, GRAFT_UNSUPPORTED for a larger map, or GRAFT_OUT_OF_MEMORY. */
#define GRAFT_SMALL_MAP_POSITIONS 16
int graft_small_map_supported(const graft_conv_shape *shape);
int graft_small_map_forward(const graft_conv_shape *shape, const float *x, const float *w, const float *bias,
                            float *y);
int graft_small_map_backward_data(const graft_conv_shape *shape, const float *dy, const float *w, float *dx);
int graft_small_map_backward_weights(const graft_conv_shape *shape, const float *x, const float *dy, float *dw,
                                     float *dbias);

/* Row-major C = alpha·op(A)·op(B) + beta·C, op 'N' or 'T', as oneDNN's dnnl_sgemm takes it,
 * computed on the calling thread. */
typedef void (*graft_sgemm_fn)(char transa, char transb, long m, long n, long k, float alpha, const float *a,
                               long lda, const float *b, long ldb, float beta, float *c, long ldc);

/* The sgemm Graft's Winograd runs its 36 products with, each worker its own: OpenBLAS's unless
 * another is set. The oneDNN layer sets oneDNN's JIT sgemm when it loads, so a build with oneDNN
 * always multiplies with oneDNN's. Set it before any convolution runs. With OpenBLAS's, keep
 * OpenBLAS on one thread (openblas_set_num_threads(1), as GraftTensor's BLAS does in a build
 * without oneDNN): each worker's product then runs on that worker alone. */
void graft_winograd_use_sgemm(graft_sgemm_fn fn);

/* That sgemm: what the C kernels multiply with, on the calling thread. */
void graft_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc);

/* Runs fn(ctx, start, end) over [0, count) split into one contiguous chunk per thread (chunk
 * bounds are multiples of granule), and returns when all are done. The threads are the OpenMP
 * team of the runtime oneDNN loaded, so that Graft's elementwise loops share the threads the
 * convolutions use instead of starting a second pool that would fight them for the cores; in a
 * process without OpenMP (a build without oneDNN), a pool of Graft's own, of OMP_NUM_THREADS
 * threads or one per core. */
typedef void (*graft_chunk_fn)(void *ctx, long start, long end);
void graft_parallel_chunks(long count, long granule, graft_chunk_fn fn, void *ctx);

/* Threads in that team or pool. */
int graft_parallel_threads(void);

/* ---- for the C kernels (graft_winograd.c, and graft_dnnl.c in CDNNL) ---- */

/* This thread's arena, grown to at least `bytes` (2 MB-aligned, on transparent huge pages where
 * there are) and kept for the next call, so that a layer's buffers are not faulted in afresh on
 * every call. It holds one call's buffers at a time: a oneDNN primitive's scratchpad and
 * reordered arguments, or the slab Graft's Winograd hands its workers. NULL when it cannot grow. */
void *graft_arena(size_t bytes);

/* As graft_parallel_chunks, over at most `parts` chunks, and fn learns its chunk's index, below
 * `parts`: the slice of a buffer allocated before the call that is its own. */
typedef void (*graft_part_fn)(void *ctx, int part, long start, long end);
void graft_parallel_parts(long count, long granule, int parts, graft_part_fn fn, void *ctx);

#ifdef __cplusplus
}
#endif
#endif
