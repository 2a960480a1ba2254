/* Winograd F(4,3) convolutions of Graft's own, for CPUs where oneDNN has no Winograd kernel
 * (oneDNN 2.6's is AVX-512 only). In the style of NNPACK: each 6×6 input tile and each 3×3
 * filter is transformed, the 36 points of a tile then multiply as 36 independent matrix
 * products (oneDNN's sgemm), and each 6×6 product is transformed back into a 4×4 output tile.
 * That is 36 multiplications per 4×4 outputs and input-output channel pair, against 144 for a
 * direct 3×3 convolution.
 *
 * The batch's tile rows (one row of tiles of one image) are split into blocks, and each thread
 * runs its blocks from input transform to output transform with no barrier between the steps.
 * A block holds up to 8 MB of transformed tiles and products: blocks of 0.5 MB (a core's L2 on
 * many CPUs) made ResNet34's layers 1.2–3× slower on the Xeon it was measured on, as the 36 products became too narrow for
 * sgemm. Transforms are the matrices of Lavin and Gray, "Fast Algorithms for Convolutional
 * Neural Networks" (2016), with interpolation points 0, ±1, ±2, ±1/2. */
#include "graft_dnnl.h"

#include <oneapi/dnnl/dnnl.h>
#include <stdio.h>
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

static long gradient_block_rows(const graft_conv_shape *s, long *per_row);

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
    if (!g) { /* nothing sensible to return from a worker thread */
        fprintf(stderr, "graft: out of memory for Winograd weight transform\n");
        abort();
    }
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

/* Per-thread scratch for a block's transformed tiles and products (about BLOCK_BUDGET floats) and
 * the transforms' work space, kept between calls as oneDNN's arena is. */
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

/* One row of a tile row's tiles: dst[s][x] = padded[4x + s] for s < size (6 for input tiles, 4
 * for output-gradient tiles), where `padded` is row `src` (width w) shifted right by `pad`, zero
 * elsewhere; a NULL src is a row of zeros. `row` is scratch of 4·tw + 2 floats; dst rows are
 * `stride` apart. */
static void gather_row(const float *src, int w, int pad, int size, int tw, float *row, float *dst, long stride) {
    if (!src) {
        for (int s = 0; s < size; s++) memset(dst + s * stride, 0, sizeof(float) * tw);
        return;
    }
    const int len = 4 * tw + size - 4, copy = w < len - pad ? w : len - pad;
    memset(row, 0, sizeof(float) * pad);
    memcpy(row + pad, src, sizeof(float) * copy);
    memset(row + pad + copy, 0, sizeof(float) * (len - pad - copy));
    const float *restrict in = row;
    float *restrict s0 = dst, *restrict s1 = s0 + stride, *restrict s2 = s1 + stride, *restrict s3 = s2 + stride;
    if (size == 6) {
        float *restrict s4 = s3 + stride, *restrict s5 = s4 + stride;
        for (int x = 0; x < tw; x++) {
            s0[x] = in[4 * x];
            s1[x] = in[4 * x + 1];
            s2[x] = in[4 * x + 2];
            s3[x] = in[4 * x + 3];
            s4[x] = in[4 * x + 4];
            s5[x] = in[4 * x + 5];
        }
    } else {
        for (int x = 0; x < tw; x++) {
            s0[x] = in[4 * x];
            s1[x] = in[4 * x + 1];
            s2[x] = in[4 * x + 2];
            s3[x] = in[4 * x + 3];
        }
    }
}

/* v[p][c][t] = (Bᵀ d B)[p] for the 6×6 input tile d of each tile t in tile rows [q0, q1) and
 * each channel c in [c0, c1). The
 * tiles' values are first gathered into d[r][s][t] (row r, column s of tile t), so that both
 * 1-D transforms run over all the block's tiles at once. */
static void transform_input(const wino_conv *cv, long q0, long q1, int c0, int c1, float *v, float *work) {
    const int tw = cv->tiles_w, th = cv->tiles_h, H = cv->height, W = cv->width, pad = cv->padding;
    const long tiles = (q1 - q0) * tw, stride = (long)cv->ins * tiles;
    float *d = work, *e = work + POINTS * tiles, *row = e + POINTS * tiles;
    for (int c = c0; c < c1; c++) {
        for (long q = q0; q < q1; q++) {
            const long n = q / th, ty = q % th, t0 = (q - q0) * tw;
            const float *plane = cv->x + (n * cv->ins + c) * (long)H * W;
            for (int r = 0; r < 6; r++) {
                long iy = 4 * ty - pad + r;
                gather_row(iy < 0 || iy >= H ? NULL : plane + iy * W, W, pad, 6, tw, row, d + r * 6 * tiles + t0, tiles);
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
    if (!v) { /* nothing sensible to return from a worker thread */
        fprintf(stderr, "graft: out of memory for Winograd scratch (%zu bytes)\n", block_floats(cv) * sizeof(float));
        abort();
    }
    const long max_tiles = cv->rows_per_block * cv->tiles_w;
    float *m = v + (long)POINTS * cv->ins * max_tiles, *work = m + (long)POINTS * cv->outs * max_tiles;
    for (long b = first; b < end; b++) {
        long q0 = b * cv->rows_per_block, q1 = q0 + cv->rows_per_block;
        if (q1 > cv->tile_rows) q1 = cv->tile_rows;
        long tiles = (q1 - q0) * cv->tiles_w;
        transform_input(cv, q0, q1, 0, cv->ins, v, work);
        for (int p = 0; p < POINTS; p++)
            dnnl_sgemm('N', 'N', cv->outs, tiles, cv->ins, 1.0f, cv->u + (long)p * cv->outs * cv->ins, cv->ins,
                       v + (long)p * cv->ins * tiles, tiles, 0.0f, m + (long)p * cv->outs * tiles, tiles);
        transform_output(cv, q0, q1, m, work);
    }
}

/* Floats of transformed tiles and products one thread's block may hold (8 MB). */
enum { BLOCK_BUDGET = 2 << 20 };

/* The output size and tiling of a convolution whose input geometry is set; returns the floats
 * of transformed tiles and products one tile row takes. */
static long tile(wino_conv *cv) {
    cv->out_height = cv->height + 2 * cv->padding - 2;
    cv->out_width = cv->width + 2 * cv->padding - 2;
    cv->tiles_h = (cv->out_height + 3) / 4;
    cv->tiles_w = (cv->out_width + 3) / 4;
    cv->tile_rows = (long)cv->batch * cv->tiles_h;
    return (long)POINTS * (cv->ins + cv->outs) * cv->tiles_w;
}

static void convolve(wino_conv *cv) {
    long per_row = tile(cv);
    long most = BLOCK_BUDGET / per_row > 0 ? BLOCK_BUDGET / per_row : 1;
    /* As many blocks as fit, rounded up to a multiple of the threads so none waits on another. */
    long threads = graft_parallel_threads(), blocks = (cv->tile_rows + most - 1) / most;
    if (cv->tile_rows >= threads) blocks = (blocks + threads - 1) / threads * threads;
    cv->rows_per_block = (cv->tile_rows + blocks - 1) / blocks;
    cv->blocks = (cv->tile_rows + cv->rows_per_block - 1) / cv->rows_per_block;
    graft_parallel_chunks(cv->blocks, 1, run_blocks, cv);
}

/* ---- the weight gradient ----
 * y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is linear in g, so dL/dg = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G: the
 * 36 products become 36 matrix products that sum over the tiles, du[p] = w[p]·v[p]ᵀ, with w the
 * output gradient's 4×4 tiles transformed by A. Blocks of tiles run one after another; within a
 * block the transforms split over channels and the products over the 36 points, so that each
 * thread owns its points' sums and none are added across threads. */

/* One row of A·(g0 … g3), elementwise over n tiles; out rows `stride` apart. */
static inline void a_expand(const float *restrict g0, const float *restrict g1, const float *restrict g2,
                            const float *restrict g3, long n, float *out, long stride) {
    float *restrict o0 = out, *restrict o1 = o0 + stride, *restrict o2 = o1 + stride, *restrict o3 = o2 + stride,
          *restrict o4 = o3 + stride, *restrict o5 = o4 + stride;
    for (long t = 0; t < n; t++) {
        o0[t] = g0[t];
        o1[t] = (g0[t] + g2[t]) + (g1[t] + g3[t]);
        o2[t] = (g0[t] + g2[t]) - (g1[t] + g3[t]);
        o3[t] = (g0[t] + 4 * g2[t]) + 2 * (g1[t] + 4 * g3[t]);
        o4[t] = (g0[t] + 4 * g2[t]) - 2 * (g1[t] + 4 * g3[t]);
        o5[t] = g3[t];
    }
}

/* w[p][o][t] = (A g Aᵀ)[p] for the 4×4 output-gradient tile g of each tile t in tile rows
 * [q0, q1) and channel o in [o0, o1); outputs past the map's edge count as zero. */
static void transform_gradient(const wino_conv *cv, long q0, long q1, int o0, int o1, float *w, float *work) {
    const int tw = cv->tiles_w, th = cv->tiles_h, OH = cv->out_height, OW = cv->out_width;
    const long tiles = (q1 - q0) * tw, stride = (long)cv->outs * tiles;
    float *d = work, *e = work + 16 * tiles, *row = e + 24 * tiles;
    for (int o = o0; o < o1; o++) {
        for (long q = q0; q < q1; q++) {
            const long n = q / th, ty = q % th, t0 = (q - q0) * tw;
            const float *plane = cv->y + (n * cv->outs + o) * (long)OH * OW;
            for (int a = 0; a < 4; a++) {
                long oy = 4 * ty + a;
                gather_row(oy >= OH ? NULL : plane + oy * OW, OW, 0, 4, tw, row, d + a * 4 * tiles + t0, tiles);
            }
        }
        /* e[i][b] = Σ_a A[i][a] d[a][b], then w[i][j] = Σ_b e[i][b] A[j][b]. */
        for (int b = 0; b < 4; b++) {
            const float *db = d + b * tiles;
            a_expand(db, db + 4 * tiles, db + 8 * tiles, db + 12 * tiles, tiles, e + b * tiles, 4 * tiles);
        }
        for (int i = 0; i < 6; i++) {
            const float *ei = e + i * 4 * tiles;
            a_expand(ei, ei + tiles, ei + 2 * tiles, ei + 3 * tiles, tiles, w + (long)(i * 6) * stride + (long)o * tiles,
                     stride);
        }
    }
}

/* One row of Gᵀ·(u0 … u5), elementwise over n filters; out rows `stride` apart. */
static inline void g_reduce(const float *restrict u0, const float *restrict u1, const float *restrict u2,
                            const float *restrict u3, const float *restrict u4, const float *restrict u5, long n,
                            float *out, long stride) {
    float *restrict r0 = out, *restrict r1 = r0 + stride, *restrict r2 = r1 + stride;
    for (long i = 0; i < n; i++) {
        r0[i] = u0[i] * 0.25f - (u1[i] + u2[i]) * (1.0f / 6) + (u3[i] + u4[i]) * (1.0f / 24);
        r1[i] = (u2[i] - u1[i]) * (1.0f / 6) + (u3[i] - u4[i]) * (1.0f / 12);
        r2[i] = ((u3[i] + u4[i]) - (u1[i] + u2[i])) * (1.0f / 6) + u5[i];
    }
}

typedef struct gradient_job {
    wino_conv cv;
    long q0, q1;
    float *v, *w, *du, *dw, *dbias;
    int first;
} gradient_job;

static float *thread_work(const wino_conv *cv, long tiles) {
    size_t floats = 2 * POINTS * tiles + 4L * cv->tiles_w + 2;
    float *work = scratch_get(floats);
    if (!work) {
        fprintf(stderr, "graft: out of memory for Winograd scratch (%zu bytes)\n", floats * sizeof(float));
        abort();
    }
    return work;
}

static void gradient_inputs(void *ctx, long start, long end) {
    const gradient_job *j = ctx;
    transform_input(&j->cv, j->q0, j->q1, (int)start, (int)end, j->v, thread_work(&j->cv, (j->q1 - j->q0) * j->cv.tiles_w));
}

static void gradient_outputs(void *ctx, long start, long end) {
    const gradient_job *j = ctx;
    transform_gradient(&j->cv, j->q0, j->q1, (int)start, (int)end, j->w,
                       thread_work(&j->cv, (j->q1 - j->q0) * j->cv.tiles_w));
}

static void gradient_products(void *ctx, long start, long end) {
    const gradient_job *j = ctx;
    const long tiles = (j->q1 - j->q0) * j->cv.tiles_w, K = j->cv.outs, C = j->cv.ins;
    for (long p = start; p < end; p++)
        dnnl_sgemm('N', 'T', K, C, tiles, 1.0f, j->w + p * K * tiles, tiles, j->v + p * C * tiles, tiles,
                   j->first ? 0.0f : 1.0f, j->du + p * K * C, C);
}

/* dw[o][i] = Gᵀ du[·][o][i] G for output channels [start, end), and the bias gradient. */
static void gradient_weights(void *ctx, long start, long end) {
    const gradient_job *j = ctx;
    const long C = j->cv.ins, plane = (long)j->cv.outs * C;
    float *h = malloc(sizeof(float) * 27 * C), *r = h + 18 * C;
    if (!h) {
        fprintf(stderr, "graft: out of memory for the Winograd weight gradient\n");
        abort();
    }
    for (long o = start; o < end; o++) {
        const float *u = j->du + o * C;
        /* h[s][a][i] = Σ_b du[a][b] G[b][s] over the six rows a, then r[row][s][i] = Σ_a G[a][row] h[s][a][i]. */
        for (int a = 0; a < 6; a++) {
            const float *ua = u + (long)(a * 6) * plane;
            g_reduce(ua, ua + plane, ua + 2 * plane, ua + 3 * plane, ua + 4 * plane, ua + 5 * plane, C, h + a * C,
                     6 * C);
        }
        for (int s = 0; s < 3; s++) {
            const float *hs = h + s * 6 * C;
            g_reduce(hs, hs + C, hs + 2 * C, hs + 3 * C, hs + 4 * C, hs + 5 * C, C, r + s * C, 3 * C);
        }
        /* r[row][s][i] → dw[o][i][row][s] */
        float *out = j->dw + o * C * 9;
        for (long i = 0; i < C; i++)
            for (int k = 0; k < 9; k++) out[i * 9 + k] = r[k * C + i];
        if (j->dbias) {
            const long hw = (long)j->cv.out_height * j->cv.out_width;
            double sum = 0;
            for (long n = 0; n < j->cv.batch; n++) {
                const float *g = j->cv.y + (n * j->cv.outs + o) * hw;
                for (long k = 0; k < hw; k++) sum += g[k];
            }
            j->dbias[o] = (float)sum;
        }
    }
    free(h);
}

/* Tile rows per block of the weight gradient (16 MB of transformed tiles at most, at least one
 * row), and the floats one row takes. */
static long gradient_block_rows(const graft_conv_shape *s, long *per_row) {
    wino_conv cv = {.batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
                    .outs = s->out_channels, .padding = s->padding};
    *per_row = tile(&cv);
    long rows = 2 * BLOCK_BUDGET / *per_row > 0 ? 2 * BLOCK_BUDGET / *per_row : 1;
    return rows < cv.tile_rows ? rows : cv.tile_rows;
}

long graft_winograd_weight_gradient_floats(const graft_conv_shape *s) {
    long per_row, rows = gradient_block_rows(s, &per_row);
    return graft_winograd_weight_floats(s) + per_row * rows;
}

int graft_winograd_backward_weights(const graft_conv_shape *s, const float *x, const float *dy, float *scratch,
                                    float *dw, float *dbias) {
    if (!graft_winograd_supported(s)) return -1;
    float *du = scratch, *blocks = scratch + graft_winograd_weight_floats(s);
    gradient_job j = {
        /* The forward convolution's geometry; y is the output gradient here (only read). */
        .cv = {.batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
               .outs = s->out_channels, .padding = s->padding, .x = x, .y = (float *)dy},
        .du = du, .dw = dw, .dbias = s->has_bias ? dbias : NULL,
    };
    wino_conv *cv = &j.cv;
    long per_row, rows = gradient_block_rows(s, &per_row);
    tile(cv);
    j.first = 1;
    for (long q0 = 0; q0 < cv->tile_rows; q0 += rows) {
        j.q0 = q0;
        j.q1 = q0 + rows < cv->tile_rows ? q0 + rows : cv->tile_rows;
        long tiles = (j.q1 - j.q0) * cv->tiles_w;
        j.v = blocks;
        j.w = blocks + (long)POINTS * cv->ins * tiles;
        graft_parallel_chunks(cv->ins, 1, gradient_inputs, &j);
        graft_parallel_chunks(cv->outs, 1, gradient_outputs, &j);
        graft_parallel_chunks(POINTS, 1, gradient_products, &j);
        j.first = 0;
    }
    graft_parallel_chunks(cv->outs, 1, gradient_weights, &j);
    return 0;
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
