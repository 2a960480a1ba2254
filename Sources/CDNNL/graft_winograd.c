/* Winograd F(4,3) convolutions of Graft's own, for CPUs where oneDNN has no Winograd kernel
 * (oneDNN 2.6's is AVX-512 only). In the style of NNPACK: each 6×6 input tile and each 3×3
 * filter is transformed, the 36 points of a tile then multiply as 36 independent matrix
 * products (oneDNN's sgemm), and each 6×6 product is transformed back into a 4×4 output tile.
 * That is 36 multiplications per 4×4 outputs and input-output channel pair, against 144 for a
 * direct 3×3 convolution.
 *
 * The batch's tile rows (one row of tiles of one image) are split into blocks that each thread
 * runs from input transform to output transform while the block's transformed tiles are still in
 * its cache. Transforms are the matrices of Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks" (2016), with interpolation points 0, ±1, ±2, ±1/2. */
#include "graft_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

enum { POINTS = 36 };

int graft_winograd_supported(const graft_conv_shape *s) {
    return s->kernel == 3 && s->stride == 1 && s->padding >= 0 && s->padding <= 2
        && s->height + 2 * s->padding - 2 > 0 && s->width + 2 * s->padding - 2 > 0;
}

long graft_winograd_weight_floats(const graft_conv_shape *s) {
    return (long)POINTS * s->in_channels * s->out_channels;
}

/* ---- weights: u[p][o][i] = (G g Gᵀ)[p] ---- */

typedef struct weight_job {
    const float *w;
    float *u;
    int outs, ins;
    int flip; /* g = w[i][o] rotated 180°: the filters of the input-gradient convolution */
} weight_job;

/* out[r][·] = G[r]·(a, b, c)[·] over n filters at once, for the six rows r of G. */
static inline void g_rows(const float *restrict a, const float *restrict b, const float *restrict c, long n,
                          float *out, long stride) {
    float *restrict o0 = out, *restrict o1 = o0 + stride, *restrict o2 = o1 + stride, *restrict o3 = o2 + stride,
          *restrict o4 = o3 + stride, *restrict o5 = o4 + stride;
    for (long i = 0; i < n; i++) {
        o0[i] = a[i] * 0.25f;
        o1[i] = (a[i] + b[i] + c[i]) * (-1.0f / 6);
        o2[i] = (a[i] - b[i] + c[i]) * (-1.0f / 6);
        o3[i] = a[i] * (1.0f / 24) + b[i] * (1.0f / 12) + c[i] * (1.0f / 6);
        o4[i] = a[i] * (1.0f / 24) - b[i] * (1.0f / 12) + c[i] * (1.0f / 6);
        o5[i] = c[i];
    }
}

/* Output channels [start, end): u[p][o][·] = G g Gᵀ for every input channel at once, so that
 * each of the 36 rows is written contiguously. */
static void transform_weights(void *ctx, long start, long end) {
    const weight_job *j = ctx;
    const long plane = (long)j->outs * j->ins, n = j->ins;
    /* g[k][i]: the nine taps as rows over i; gg[c][a][i] = (G g)[a][c] */
    float *g = malloc(sizeof(float) * 27 * n), *gg = g + 9 * n;
    if (!g) abort(); /* out of memory in a worker thread */
    for (long o = start; o < end; o++) {
        for (long i = 0; i < n; i++) {
            const float *src = j->flip ? j->w + (i * j->outs + o) * 9 : j->w + (o * n + i) * 9;
            for (int k = 0; k < 9; k++) g[k * n + i] = j->flip ? src[8 - k] : src[k];
        }
        for (int c = 0; c < 3; c++) g_rows(g + c * n, g + (3 + c) * n, g + (6 + c) * n, n, gg + c * 6 * n, n);
        float *dst = j->u + o * n;
        for (int a = 0; a < 6; a++)
            g_rows(gg + a * n, gg + (6 + a) * n, gg + (12 + a) * n, n, dst + (long)(a * 6) * plane, plane);
    }
    free(g);
}

/* ---- the convolution proper, on transformed weights ---- */

typedef struct wino_conv {
    int batch, ins, height, width, outs, padding;
    int out_height, out_width, tiles_h, tiles_w;
    long tile_rows, rows_per_block, blocks;
    const float *x, *u, *bias;
    int relu;
    float *y;
} wino_conv;

/* Per-thread scratch for one block's transformed tiles and products, kept between calls. */
static _Thread_local float *scratch = NULL;
static _Thread_local size_t scratch_floats = 0;

static float *scratch_get(size_t floats) {
    if (floats > scratch_floats) {
        free(scratch);
        size_t huge = (size_t)2 << 20, bytes = (floats * sizeof(float) + huge - 1) / huge * huge;
        scratch = aligned_alloc(huge, bytes);
        if (scratch) madvise(scratch, bytes, MADV_HUGEPAGE);
        scratch_floats = scratch ? bytes / sizeof(float) : 0;
    }
    return scratch;
}

void graft_winograd_release_scratch(void) {
    free(scratch);
    scratch = NULL;
    scratch_floats = 0;
}

static size_t block_floats(const wino_conv *cv) {
    long tiles = cv->rows_per_block * cv->tiles_w;
    return (size_t)POINTS * (cv->ins + cv->outs) * tiles + 2 * POINTS * tiles + 4L * cv->tiles_w + 2;
}

/* One row of the 1-D transform Bᵀ·(d0 … d5), elementwise over n tiles; out rows `stride` apart. */
static inline void b_transform(const float *restrict d0, const float *restrict d1, const float *restrict d2,
                               const float *restrict d3, const float *restrict d4, const float *restrict d5,
                               long n, float *out, long stride) {
    float *restrict o0 = out, *restrict o1 = o0 + stride, *restrict o2 = o1 + stride, *restrict o3 = o2 + stride,
          *restrict o4 = o3 + stride, *restrict o5 = o4 + stride;
    for (long t = 0; t < n; t++) {
        o0[t] = 4 * d0[t] - 5 * d2[t] + d4[t];
        o1[t] = -4 * (d1[t] + d2[t]) + d3[t] + d4[t];
        o2[t] = 4 * (d1[t] - d2[t]) - d3[t] + d4[t];
        o3[t] = 2 * (d3[t] - d1[t]) - d2[t] + d4[t];
        o4[t] = 2 * (d1[t] - d3[t]) - d2[t] + d4[t];
        o5[t] = 4 * d1[t] - 5 * d3[t] + d5[t];
    }
}

/* One row of Aᵀ·(m0 … m5) + bias, elementwise over n tiles; out rows `stride` apart. */
static inline void a_transform(const float *restrict m0, const float *restrict m1, const float *restrict m2,
                               const float *restrict m3, const float *restrict m4, const float *restrict m5,
                               long n, float bias, float *out, long stride) {
    float *restrict o0 = out, *restrict o1 = o0 + stride, *restrict o2 = o1 + stride, *restrict o3 = o2 + stride;
    for (long t = 0; t < n; t++) {
        o0[t] = m0[t] + m1[t] + m2[t] + m3[t] + m4[t] + bias;
        o1[t] = (m1[t] - m2[t]) + 2 * (m3[t] - m4[t]) + bias;
        o2[t] = (m1[t] + m2[t]) + 4 * (m3[t] + m4[t]) + bias;
        o3[t] = (m1[t] - m2[t]) + 8 * (m3[t] - m4[t]) + m5[t] + bias;
    }
}

/* v[p][c][t] = (Bᵀ d B)[p] for the 6×6 input tile d of each tile t in tile rows [q0, q1). The
 * tiles' values are first gathered into d[r][s][t] (row r, column s of tile t), so that both
 * 1-D transforms run over all the block's tiles at once. */
static void transform_input(const wino_conv *cv, long q0, long q1, float *v, float *work) {
    const int tw = cv->tiles_w, th = cv->tiles_h, H = cv->height, W = cv->width, pad = cv->padding;
    const int wp = 4 * tw + 2; /* padded input columns one tile row covers */
    const int copy = W < wp - pad ? W : wp - pad;
    const long tiles = (q1 - q0) * tw, stride = (long)cv->ins * tiles;
    float *d = work, *e = work + POINTS * tiles, *row = e + POINTS * tiles;
    for (int c = 0; c < cv->ins; c++) {
        for (long q = q0; q < q1; q++) {
            const long n = q / th, ty = q % th, t0 = (q - q0) * tw;
            const float *plane = cv->x + (n * cv->ins + c) * (long)H * W;
            for (int r = 0; r < 6; r++) {
                float *dr = d + r * 6 * tiles + t0;
                long iy = 4 * ty - pad + r;
                if (iy < 0 || iy >= H) {
                    for (int s = 0; s < 6; s++) memset(dr + s * tiles, 0, sizeof(float) * tw);
                    continue;
                }
                memset(row, 0, sizeof(float) * pad);
                memcpy(row + pad, plane + iy * W, sizeof(float) * copy);
                memset(row + pad + copy, 0, sizeof(float) * (wp - pad - copy));
                float *restrict s0 = dr, *restrict s1 = s0 + tiles, *restrict s2 = s1 + tiles,
                      *restrict s3 = s2 + tiles, *restrict s4 = s3 + tiles, *restrict s5 = s4 + tiles;
                const float *restrict in = row;
                for (int x = 0; x < tw; x++) {
                    s0[x] = in[4 * x];
                    s1[x] = in[4 * x + 1];
                    s2[x] = in[4 * x + 2];
                    s3[x] = in[4 * x + 3];
                    s4[x] = in[4 * x + 4];
                    s5[x] = in[4 * x + 5];
                }
            }
        }
        /* e[i][s] = Σ_r Bᵀ[i][r] d[r][s], then v[i][j] = Σ_s e[i][s] B[s][j]. */
        for (int s = 0; s < 6; s++) {
            const float *ds = d + s * tiles;
            b_transform(ds, ds + 6 * tiles, ds + 12 * tiles, ds + 18 * tiles, ds + 24 * tiles, ds + 30 * tiles,
                        tiles, e + s * tiles, 6 * tiles);
        }
        for (int i = 0; i < 6; i++) {
            const float *ei = e + i * 6 * tiles;
            b_transform(ei, ei + tiles, ei + 2 * tiles, ei + 3 * tiles, ei + 4 * tiles, ei + 5 * tiles, tiles,
                        v + (long)(i * 6) * stride + (long)c * tiles, stride);
        }
    }
}

/* Aᵀ m A for each tile's 6×6 products m[p][o][t], written as its 4×4 outputs (+ bias, ReLU). */
static void transform_output(const wino_conv *cv, long q0, long q1, const float *m, float *work) {
    const int tw = cv->tiles_w, th = cv->tiles_h, OH = cv->out_height, OW = cv->out_width;
    const long tiles = (q1 - q0) * tw, stride = (long)cv->outs * tiles;
    const int whole = OW / 4 < tw ? OW / 4 : tw; /* tiles whose four columns all exist */
    float *z = work;                  /* z[i][b][t] = Σ_j m[i][j] A[j][b] */
    float *yt = work + 24 * tiles;    /* yt[a][b][t] */
    for (int o = 0; o < cv->outs; o++) {
        const float *src = m + (long)o * tiles;
        for (int i = 0; i < 6; i++) {
            const float *mi = src + (long)(i * 6) * stride;
            a_transform(mi, mi + stride, mi + 2 * stride, mi + 3 * stride, mi + 4 * stride, mi + 5 * stride, tiles,
                        0, z + i * tiles, 6 * tiles);
        }
        const float bias = cv->bias ? cv->bias[o] : 0;
        for (int b = 0; b < 4; b++) {
            const float *zb = z + b * 6 * tiles;
            a_transform(zb, zb + tiles, zb + 2 * tiles, zb + 3 * tiles, zb + 4 * tiles, zb + 5 * tiles, tiles, bias,
                        yt + b * tiles, 4 * tiles);
        }
        if (cv->relu)
            for (long k = 0; k < 16 * tiles; k++) yt[k] = yt[k] < 0 ? 0 : yt[k];
        for (long q = q0; q < q1; q++) {
            const long n = q / th, ty = q % th, t0 = (q - q0) * tw;
            float *plane = cv->y + (n * cv->outs + o) * (long)OH * OW;
            for (int a = 0; a < 4 && 4 * ty + a < OH; a++) {
                float *restrict out = plane + (4 * ty + a) * OW;
                const float *restrict c0 = yt + a * 4 * tiles + t0, *restrict c1 = c0 + tiles,
                                     *restrict c2 = c1 + tiles, *restrict c3 = c2 + tiles;
                for (int x = 0; x < whole; x++) {
                    out[4 * x] = c0[x];
                    out[4 * x + 1] = c1[x];
                    out[4 * x + 2] = c2[x];
                    out[4 * x + 3] = c3[x];
                }
                for (int ox = 4 * whole; ox < OW; ox++) out[ox] = c0[(ox & 3) * tiles + ox / 4];
            }
        }
    }
}

static void run_blocks(void *ctx, long first, long end) {
    const wino_conv *cv = ctx;
    float *v = scratch_get(block_floats(cv));
    if (!v) abort(); /* out of memory: nothing sensible to return from a worker thread */
    const long max_tiles = cv->rows_per_block * cv->tiles_w;
    float *m = v + (long)POINTS * cv->ins * max_tiles, *work = m + (long)POINTS * cv->outs * max_tiles;
    for (long b = first; b < end; b++) {
        long q0 = b * cv->rows_per_block, q1 = q0 + cv->rows_per_block;
        if (q1 > cv->tile_rows) q1 = cv->tile_rows;
        long tiles = (q1 - q0) * cv->tiles_w;
        transform_input(cv, q0, q1, v, work);
        for (int p = 0; p < POINTS; p++)
            dnnl_sgemm('N', 'N', cv->outs, tiles, cv->ins, 1.0f, cv->u + (long)p * cv->outs * cv->ins, cv->ins,
                       v + (long)p * cv->ins * tiles, tiles, 0.0f, m + (long)p * cv->outs * tiles, tiles);
        transform_output(cv, q0, q1, m, work);
    }
}

/* Floats of transformed tiles and products one thread's block may hold (8 MB). */
enum { BLOCK_BUDGET = 2 << 20 };

static void convolve(wino_conv *cv) {
    cv->out_height = cv->height + 2 * cv->padding - 2;
    cv->out_width = cv->width + 2 * cv->padding - 2;
    cv->tiles_h = (cv->out_height + 3) / 4;
    cv->tiles_w = (cv->out_width + 3) / 4;
    cv->tile_rows = (long)cv->batch * cv->tiles_h;
    long per_row = (long)POINTS * (cv->ins + cv->outs) * cv->tiles_w;
    long most = BLOCK_BUDGET / per_row > 0 ? BLOCK_BUDGET / per_row : 1;
    /* As many blocks as fit, rounded up to a multiple of the threads so none waits on another. */
    long threads = graft_parallel_threads(), blocks = (cv->tile_rows + most - 1) / most;
    if (cv->tile_rows >= threads) blocks = (blocks + threads - 1) / threads * threads;
    cv->rows_per_block = (cv->tile_rows + blocks - 1) / blocks;
    cv->blocks = (cv->tile_rows + cv->rows_per_block - 1) / cv->rows_per_block;
    graft_parallel_chunks(cv->blocks, 1, run_blocks, cv);
}

int graft_winograd_forward(const graft_conv_shape *s, const float *x, const float *w, const float *bias,
                           float *u, float *y) {
    if (!graft_winograd_supported(s)) return -1;
    weight_job wj = {w, u, s->out_channels, s->in_channels, 0};
    graft_parallel_chunks(s->out_channels, 1, transform_weights, &wj);
    wino_conv cv = {
        .batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
        .outs = s->out_channels, .padding = s->padding,
        .x = x, .u = u, .bias = s->has_bias ? bias : NULL, .relu = s->fuse_relu, .y = y,
    };
    convolve(&cv);
    return 0;
}

int graft_winograd_backward_data(const graft_conv_shape *s, const float *dy, const float *w, float *u, float *dx) {
    if (!graft_winograd_supported(s)) return -1;
    weight_job wj = {w, u, s->in_channels, s->out_channels, 1};
    graft_parallel_chunks(s->in_channels, 1, transform_weights, &wj);
    /* The input gradient is the output gradient convolved with the rotated, transposed filters,
     * padded by 2 - padding: its size is the input's. */
    wino_conv cv = {
        .batch = s->batch, .ins = s->out_channels, .height = s->height + 2 * s->padding - 2,
        .width = s->width + 2 * s->padding - 2, .outs = s->in_channels, .padding = 2 - s->padding,
        .x = dy, .u = u, .bias = NULL, .relu = 0, .y = dx,
    };
    convolve(&cv);
    return 0;
}
