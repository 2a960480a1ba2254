#ifndef GRAFT_DNNL_H
#define GRAFT_DNNL_H
/* A thin C layer over oneDNN convolutions for Graft's NCHW/OIHW float32 tensors.
 *
 * Primitives are created once per shape and cached (thread-safe); activations and weights are
 * reordered into the blocked layouts oneDNN's AVX-512/AVX2 kernels want, in the per-thread
 * arena that is reused across calls (graft_arena, which Graft's Winograd shares). Every function
 * returns 0 on success and a non-zero value when oneDNN cannot run this shape, so the caller
 * falls back to im2col + sgemm. Linking this layer makes Graft's Winograd multiply with
 * oneDNN's sgemm (graft_winograd_use_sgemm). */
#include "graft_kernels.h"

#ifdef __cplusplus
extern "C" {
#endif

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

/* Row-major C = alpha·op(A)·op(B) + beta·C with oneDNN's JIT sgemm (for measuring the machine's
 * peak beside OpenBLAS). */
int graft_dnnl_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                     const float *b, long ldb, float beta, float *c, long ldc);

#ifdef __cplusplus
}
#endif
#endif
