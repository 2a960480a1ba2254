#ifndef GRAFT_DNNL_H
#define GRAFT_DNNL_H
/* A thin C layer over oneDNN convolutions for Graft's NCHW/OIHW float32 tensors.
 *
 * Primitives are created once per shape and cached (thread-safe); activations and weights are
 * reordered into the blocked layouts oneDNN's AVX-512/AVX2 kernels want, in a per-thread arena
 * that is reused across calls. Every function returns 0 on success and a non-zero value when
 * oneDNN cannot run this shape, so the caller falls back to im2col + sgemm; Graft's Winograd
 * tells the two failures below apart. */
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct graft_conv_shape {
    int batch, in_channels, height, width;
    int out_channels, kernel, stride, padding;
    int has_bias;   /* forward adds a bias; backward-weights also produces its gradient */
    int fuse_relu;  /* forward applies max(0, ·) to its output */
    int winograd;   /* try Winograd F(4,3) first (3×3 stride 1); direct when it is unavailable */
} graft_conv_shape;

/* Graft's Winograd cannot run this shape (another kernel can). */
#define GRAFT_UNSUPPORTED (-1)
/* Graft's Winograd could not allocate its workers' buffers. */
#define GRAFT_OUT_OF_MEMORY (-2)

/* 1 when oneDNN is usable on this machine (an engine could be created). */
int graft_dnnl_available(void);

/* y[N,O,oh,ow] = conv(x[N,C,H,W], w[O,C,k,k]) (+ bias[O]) (then ReLU). */
int graft_conv_forward(const graft_conv_shape *shape, const float *x, const float *w, const float *bias,
                       float *y);

/* dx[N,C,H,W] = conv-transpose(dy, w); dx is overwritten. */
int graft_conv_backward_data(const graft_conv_shape *shape, const float *dy, const float *w, float *dx);

/* dw[O,C,k,k] (and dbias[O] when has_bias) are overwritten with this batch's gradient. */
int graft_conv_backward_weights(const graft_conv_shape *shape, const float *x, const float *dy, float *dw,
                                float *dbias);

/* oneDNN's name for the kernel that runs (shape, pass), pass 0 forward, 1 backward-data,
 * 2 backward-weights (e.g. "jit_wino_4x3:avx512_core"); NULL when oneDNN cannot run it. */
const char *graft_conv_implementation(const graft_conv_shape *shape, int pass);

/* 1 when oneDNN runs (shape, pass) with its Winograd algorithm (shape.winograd asks for it, and
 * it is only made where this CPU and shape have a kernel), 0 with its direct one; -1 when oneDNN
 * cannot run it. */
int graft_conv_runs_winograd(const graft_conv_shape *shape, int pass);

/* Bytes of this thread's arena one call of (shape, pass) needs: the primitive's scratchpad and
 * its arguments reordered to blocked layouts (64-byte aligned). -1 when oneDNN cannot run it.
 * The arena grows to the largest call and stays, so the caller splits a batch whose need is
 * large into calls over fewer images. Graft's Winograd takes its workers' blocks from the same
 * arena (up to about 8 MB a thread), and runs whole batches. */
long graft_conv_arena_bytes(const graft_conv_shape *shape, int pass);

/* Graft's own Winograd F(4,3) (graft_winograd.c), for 3×3 stride-1 convolutions with padding
 * 0–2 on CPUs where oneDNN has none. 1 when the shape qualifies. The passes below return 0, or
 * GRAFT_UNSUPPORTED for a shape that does not qualify, or GRAFT_OUT_OF_MEMORY when this thread's
 * arena (graft_dnnl.c) cannot grow to their workers' buffers. */
int graft_winograd_supported(const graft_conv_shape *shape);

/* Floats of the transformed-weights buffer `u` the two passes below need: 36·in·out. */
long graft_winograd_weight_floats(const graft_conv_shape *shape);

/* As graft_conv_forward (bias and fused ReLU included); u is scratch for the transformed weights. */
int graft_winograd_forward(const graft_conv_shape *shape, const float *x, const float *w, const float *bias,
                           float *u, float *y);

/* As graft_conv_backward_data; u is scratch for the transformed weights. */
int graft_winograd_backward_data(const graft_conv_shape *shape, const float *dy, const float *w, float *u,
                                 float *dx);

/* Floats of the buffer the weight gradient needs: its transformed sums and one block of
 * transformed tiles (at most 16 MB). */
long graft_winograd_weight_gradient_floats(const graft_conv_shape *shape);

/* As graft_conv_backward_weights (dw, and dbias when has_bias, overwritten); buffer holds
 * graft_winograd_weight_gradient_floats floats. */
int graft_winograd_backward_weights(const graft_conv_shape *shape, const float *x, const float *dy, float *buffer,
                                    float *dw, float *dbias);

/* Row-major C = alpha·op(A)·op(B) + beta·C with oneDNN's JIT sgemm (for measuring the machine's
 * peak beside OpenBLAS). */
int graft_dnnl_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                     const float *b, long ldb, float beta, float *c, long ldc);

/* Runs fn(ctx, start, end) over [0, count) split into one contiguous chunk per thread of
 * oneDNN's own OpenMP team (chunk bounds are multiples of granule), and returns when all are
 * done. Graft's elementwise loops share the threads the convolutions use instead of starting a
 * second pool that would fight them for the cores. Serial when OpenMP is not loaded. */
typedef void (*graft_chunk_fn)(void *ctx, long start, long end);
void graft_parallel_chunks(long count, long granule, graft_chunk_fn fn, void *ctx);

/* Threads in that team (1 when OpenMP is not loaded). */
int graft_parallel_threads(void);

#ifdef __cplusplus
}
#endif
#endif
