/* Winograd F(4,3) convolutions of Graft's own, for CPUs where oneDNN has no Winograd kernel
 * (oneDNN 2.6's is AVX-512 only), and for builds without oneDNN. In the style of NNPACK: each 6×6 input tile and each 3×3
 * filter is transformed, the 36 points of a tile then multiply as 36 independent matrix
 * products (sgemm: oneDNN's in a build with it, else OpenBLAS's), and each 6×6 product is
 * transformed back into a 4×4 output tile.
 * That is 36 multiplications per 4×4 outputs and input-output channel pair, against 144 for a
 * direct 3×3 convolution.
 *
 * The batch's tile rows (one row of tiles of one image) are split into blocks, and each thread
 * runs its blocks from input transform to output transform with no barrier between the steps.
 * A block holds up to 8 MB of transformed tiles and products: blocks the size of a core's L2
 * ran slower, as the 36 products became too narrow for sgemm (benchmarks/README.md, "Convolution
 * algorithms per layer"). Each thread's block lives in its slice of one slab, taken from the
 * calling thread's arena before the workers start, so that no worker allocates.
 *
 * Transforms are the matrices of Lavin and Gray, "Fast Algorithms for Convolutional Neural
 * Networks" (2016), with interpolation points 0, ±1, ±2, ±1/2, written out beside the functions
 * that expand them (b_transform, g_rows and g_reduce, a_transform and a_expand). */
#include "graft_kernels.h"

#include <cblas.h>
#include <string.h>

enum { POINTS = 36 };

/* ---- the products' sgemm ---- */

static void openblas_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                           const float *b, long ldb, float beta, float *c, long ldc) {
    cblas_sgemm(CblasRowMajor, transa == 'T' ? CblasTrans : CblasNoTrans, transb == 'T' ? CblasTrans : CblasNoTrans,
                (blasint)m, (blasint)n, (blasint)k, alpha, a, (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

static graft_sgemm_fn sgemm = openblas_sgemm;

void graft_winograd_use_sgemm(graft_sgemm_fn fn) {
    sgemm = fn ? fn : openblas_sgemm;
}

void graft_sgemm(char transa, char transb, long m, long n, long k, float alpha, const float *a, long lda,
                 const float *b, long ldb, float beta, float *c, long ldc) {
    sgemm(transa, transb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

int graft_winograd_supported(const graft_conv_shape *s) {
    return s->kernel == 3 && s->stride == 1 && s->padding >= 0 && s->padding <= 2
        && s->height + 2 * s->padding - 2 > 0 && s->width + 2 * s->padding - 2 > 0;
}

long graft_winograd_weight_floats(const graft_conv_shape *s) {
    return (long)POINTS * s->in_channels * s->out_channels;
}

/* ---- the plan: a convolution's geometry, its blocks and where its buffers' pieces lie ---- */

/* Where each piece of one worker's slice of the slab lies, in floats from the slice's start.
 * A worker's steps run one after another, so every step's pieces start at the same place, after
 * the block's own transformed tiles and products. */
typedef struct slice_layout {
    long v, m;       /* the forward block's transformed tiles v[p][c][t] and products m[p][o][t]
                      * (empty in the weight gradient, whose block all workers share) */
    long d, e, row;  /* transform_input, transform_gradient: the block's tiles gathered as d[r][s][t],
                      * e = d transformed along one axis, and one padded row of the image */
    long z, yt;      /* transform_output: z = m·A, and yt[a][b][t] the 4×4 output tiles */
    long g, gg;      /* transform_weights: the nine taps g[k][i], and gg = G·g */
    long h, r;       /* gradient_weights: h = du·G, and r = Gᵀ·h */
    long floats;     /* the slice, a whole number of 64-byte lines so that no two workers share one */
} slice_layout;

/* Where each piece of the weight gradient's buffer (the caller's) lies, in floats from its start:
 * the 36 sums du[p][o][i] over the batch's tiles, then one block's transformed input tiles
 * v[p][c][t] and transformed output-gradient tiles dyt[p][o][t], which all workers share. */
typedef struct gradient_layout {
    long du, v, dyt, floats;
} gradient_layout;

typedef struct wino_conv {
    int batch, ins, height, width, outs, padding;
    int out_height, out_width, tiles_h, tiles_w;
    long tile_rows, rows_per_block, blocks;
    int parts;           /* workers, each with its slice of the slab */
    slice_layout slice;  /* one worker's slice */
    float *slab;         /* parts × slice.floats, from the arena */
    const float *x, *u, *bias;
    int relu;
    float *y;
} wino_conv;

/* Floats of transformed tiles and products one thread's block may hold (8 MB). */
enum { BLOCK_BUDGET = 2 << 20 };

/* Hands out a buffer's pieces in order: the offset of a piece of `floats` floats after those
 * taken before it from *size, which grows past it. */
static long take(long *size, long floats) {
    long at = *size;
    *size += floats;
    return at;
}

static long longest(long a, long b) { return a > b ? a : b; }

/* A worker's slice for blocks of at most `tiles` tiles, holding its block's transformed tiles
 * and products when `own_block` (the forward convolution), not when the block is shared. */
static slice_layout lay_out_slice(const wino_conv *cv, long tiles, int own_block) {
    slice_layout l;
    long size = 0, end;
    l.v = take(&size, own_block ? (long)POINTS * cv->ins * tiles : 0);
    l.m = take(&size, own_block ? (long)POINTS * cv->outs * tiles : 0);
    /* Each step lays out its pieces from here; the slice ends after the largest. */
    const long steps = size;
    /* 36 floats a tile for d and e: the input's 6×6 tiles, or the output gradient's 4×4 (d) and
     * 6×4 (e). */
    l.d = take(&size, POINTS * tiles);
    l.e = take(&size, POINTS * tiles);
    l.row = take(&size, 4L * cv->tiles_w + 2);
    end = size;
    size = steps;
    l.z = take(&size, 24 * tiles);
    l.yt = take(&size, 16 * tiles);
    end = longest(end, size);
    size = steps;
    l.g = take(&size, 9L * cv->ins);
    l.gg = take(&size, 18L * cv->ins);
    end = longest(end, size);
    size = steps;
    l.h = take(&size, 18L * cv->ins);
    l.r = take(&size, 9L * cv->ins);
    end = longest(end, size);
    l.floats = (end + 15) / 16 * 16;
    return l;
}

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

/* Plans a convolution whose input geometry is set: its tiling, its blocks and its workers'
 * slices. As many blocks as fit, rounded up to a multiple of the workers so none waits on
 * another. */
static void plan_convolution(wino_conv *cv) {
    long per_row = tile(cv);
    long most = BLOCK_BUDGET / per_row > 0 ? BLOCK_BUDGET / per_row : 1;
    cv->parts = graft_parallel_threads();
    long blocks = (cv->tile_rows + most - 1) / most;
    if (cv->tile_rows >= cv->parts) blocks = (blocks + cv->parts - 1) / cv->parts * cv->parts;
    cv->rows_per_block = (cv->tile_rows + blocks - 1) / blocks;
    cv->blocks = (cv->tile_rows + cv->rows_per_block - 1) / cv->rows_per_block;
    cv->slice = lay_out_slice(cv, cv->rows_per_block * cv->tiles_w, 1);
}

/* Plans the weight gradient of the forward convolution whose input geometry is set: blocks of
 * tile rows that run one after another (16 MB of transformed tiles at most, at least one row),
 * the caller's buffer, and the workers' slices. */
static gradient_layout plan_gradient(wino_conv *cv) {
    long per_row = tile(cv);
    long rows = 2 * BLOCK_BUDGET / per_row > 0 ? 2 * BLOCK_BUDGET / per_row : 1;
    cv->rows_per_block = rows < cv->tile_rows ? rows : cv->tile_rows;
    cv->blocks = (cv->tile_rows + cv->rows_per_block - 1) / cv->rows_per_block;
    cv->parts = graft_parallel_threads();
    const long tiles = cv->rows_per_block * cv->tiles_w;
    cv->slice = lay_out_slice(cv, tiles, 0);
    gradient_layout l;
    long size = 0;
    l.du = take(&size, (long)POINTS * cv->ins * cv->outs);
    l.v = take(&size, (long)POINTS * cv->ins * tiles);
    l.dyt = take(&size, (long)POINTS * cv->outs * tiles);
    l.floats = size;
    return l;
}

/* Takes the slab from this thread's arena; 0, or GRAFT_OUT_OF_MEMORY. */
static int allocate_slab(wino_conv *cv) {
    cv->slab = graft_arena(sizeof(float) * cv->parts * cv->slice.floats);
    return cv->slab ? 0 : GRAFT_OUT_OF_MEMORY;
}

/* Worker `part`'s slice of the slab. */
static float *slice(const wino_conv *cv, int part) {
    return cv->slab + part * cv->slice.floats;
}

/* ---- weights: u[p][o][i] = (G g Gᵀ)[p] ---- */

typedef struct weight_job {
    const wino_conv *cv; /* the convolution these weights are for: its slab */
    const float *weights;
    float *u;
    int outs, ins;
    int flip; /* g = weights[i][o] rotated 180°: the filters of the input-gradient convolution */
} weight_job;

/* out[r][·] = G[r]·(a, b, c)[·] over n filters at once, for the six rows r of G:
 *
 *         ⎡  1/4      0     0 ⎤
 *         ⎢ -1/6   -1/6  -1/6 ⎥
 *     G = ⎢ -1/6    1/6  -1/6 ⎥
 *         ⎢ 1/24   1/12   1/6 ⎥
 *         ⎢ 1/24  -1/12   1/6 ⎥
 *         ⎣    0      0     1 ⎦ */
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
static void transform_weights(void *ctx, int part, long start, long end) {
    const weight_job *j = ctx;
    const long plane = (long)j->outs * j->ins, n = j->ins;
    /* g[k][i]: the nine taps as rows over i; gg[c][a][i] = (G g)[a][c] */
    float *work = slice(j->cv, part), *g = work + j->cv->slice.g, *gg = work + j->cv->slice.gg;
    for (long o = start; o < end; o++) {
        for (long i = 0; i < n; i++) {
            const float *src = j->flip ? j->weights + (i * j->outs + o) * 9 : j->weights + (o * n + i) * 9;
            for (int k = 0; k < 9; k++) g[k * n + i] = j->flip ? src[8 - k] : src[k];
        }
        for (int c = 0; c < 3; c++) g_rows(g + c * n, g + (3 + c) * n, g + (6 + c) * n, n, gg + c * 6 * n, n);
        float *dst = j->u + o * n;
        for (int a = 0; a < 6; a++)
            g_rows(gg + a * n, gg + (6 + a) * n, gg + (12 + a) * n, n, dst + (long)(a * 6) * plane, plane);
    }
}

/* ---- the convolution proper, on transformed weights ---- */

/* One row of the 1-D transform Bᵀ·(d0 … d5), elementwise over n tiles; out rows `stride` apart:
 *
 *          ⎡ 4   0  -5   0   1   0 ⎤
 *          ⎢ 0  -4  -4   1   1   0 ⎥
 *     Bᵀ = ⎢ 0   4  -4  -1   1   0 ⎥
 *          ⎢ 0  -2  -1   2   1   0 ⎥
 *          ⎢ 0   2  -1  -2   1   0 ⎥
 *          ⎣ 0   4   0  -5   0   1 ⎦ */
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

/* One row of Aᵀ·(m0 … m5) + bias, elementwise over n tiles; out rows `stride` apart:
 *
 *          ⎡ 1   1   1   1   1   0 ⎤
 *     Aᵀ = ⎢ 0   1  -1   2  -2   0 ⎥
 *          ⎢ 0   1   1   4   4   0 ⎥
 *          ⎣ 0   1  -1   8  -8   1 ⎦ */
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
 * for output-gradient tiles), where `padded` is row `src` (`width` floats) shifted right by
 * `pad`, zero elsewhere; a NULL src is a row of zeros. `row` holds 4·tw + 2 floats; dst rows are
 * `stride` apart. */
static void gather_row(const float *src, int width, int pad, int size, int tw, float *row, float *dst, long stride) {
    if (!src) {
        for (int s = 0; s < size; s++) memset(dst + s * stride, 0, sizeof(float) * tw);
        return;
    }
    const int len = 4 * tw + size - 4, copy = width < len - pad ? width : len - pad;
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
 * each channel c in [c0, c1), with `work` the worker's slice. The tiles' values are first
 * gathered into d[r][s][t] (row r, column s of tile t), so that both 1-D transforms run over all
 * the block's tiles at once. */
static void transform_input(const wino_conv *cv, long q0, long q1, int c0, int c1, float *v, float *work) {
    const int tw = cv->tiles_w, th = cv->tiles_h, H = cv->height, W = cv->width, pad = cv->padding;
    const long tiles = (q1 - q0) * tw, stride = (long)cv->ins * tiles;
    float *d = work + cv->slice.d, *e = work + cv->slice.e, *row = work + cv->slice.row;
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
    float *z = work + cv->slice.z;   /* z[i][b][t] = Σ_j m[i][j] A[j][b] */
    float *yt = work + cv->slice.yt; /* yt[a][b][t] */
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

static void run_blocks(void *ctx, int part, long first, long end) {
    const wino_conv *cv = ctx;
    float *work = slice(cv, part), *v = work + cv->slice.v, *m = work + cv->slice.m;
    for (long b = first; b < end; b++) {
        long q0 = b * cv->rows_per_block, q1 = q0 + cv->rows_per_block;
        if (q1 > cv->tile_rows) q1 = cv->tile_rows;
        long tiles = (q1 - q0) * cv->tiles_w;
        transform_input(cv, q0, q1, 0, cv->ins, v, work);
        for (int p = 0; p < POINTS; p++)
            sgemm('N', 'N', cv->outs, tiles, cv->ins, 1.0f, cv->u + (long)p * cv->outs * cv->ins, cv->ins,
                  v + (long)p * cv->ins * tiles, tiles, 0.0f, m + (long)p * cv->outs * tiles, tiles);
        transform_output(cv, q0, q1, m, work);
    }
}

/* Transforms the weights (weight_job's ctx) and runs the planned convolution over them. */
static int convolve(wino_conv *cv, weight_job *wj) {
    if (allocate_slab(cv)) return GRAFT_OUT_OF_MEMORY;
    graft_parallel_parts(wj->outs, 1, cv->parts, transform_weights, wj);
    graft_parallel_parts(cv->blocks, 1, cv->parts, run_blocks, cv);
    return 0;
}

/* ---- the weight gradient ----
 * y = Aᵀ[(G g Gᵀ) ⊙ (Bᵀ d B)]A is linear in g, so dL/dg = Gᵀ[Σ_tiles (A dY Aᵀ) ⊙ (Bᵀ d B)]G: the
 * 36 products become 36 matrix products that sum over the tiles, du[p] = dyt[p]·v[p]ᵀ, with dyt
 * the output gradient's 4×4 tiles transformed by A. Blocks of tiles run one after another;
 * within a block the transforms split over channels and the products over the 36 points, so that
 * each thread owns its points' sums and none are added across threads. */

/* One row of A·(g0 … g3), elementwise over n tiles; out rows `stride` apart, with A = (Aᵀ)ᵀ
 * (above a_transform). */
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

/* dyt[p][o][t] = (A g Aᵀ)[p] for the 4×4 output-gradient tile g of each tile t in tile rows
 * [q0, q1) and channel o in [o0, o1), with `work` the worker's slice; outputs past the map's edge
 * count as zero. */
static void transform_gradient(const wino_conv *cv, long q0, long q1, int o0, int o1, float *dyt, float *work) {
    const int tw = cv->tiles_w, th = cv->tiles_h, OH = cv->out_height, OW = cv->out_width;
    const long tiles = (q1 - q0) * tw, stride = (long)cv->outs * tiles;
    float *d = work + cv->slice.d, *e = work + cv->slice.e, *row = work + cv->slice.row;
    for (int o = o0; o < o1; o++) {
        for (long q = q0; q < q1; q++) {
            const long n = q / th, ty = q % th, t0 = (q - q0) * tw;
            const float *plane = cv->y + (n * cv->outs + o) * (long)OH * OW;
            for (int a = 0; a < 4; a++) {
                long oy = 4 * ty + a;
                gather_row(oy >= OH ? NULL : plane + oy * OW, OW, 0, 4, tw, row, d + a * 4 * tiles + t0, tiles);
            }
        }
        /* e[i][b] = Σ_a A[i][a] d[a][b], then dyt[i][j] = Σ_b e[i][b] A[j][b]. */
        for (int b = 0; b < 4; b++) {
            const float *db = d + b * tiles;
            a_expand(db, db + 4 * tiles, db + 8 * tiles, db + 12 * tiles, tiles, e + b * tiles, 4 * tiles);
        }
        for (int i = 0; i < 6; i++) {
            const float *ei = e + i * 4 * tiles;
            a_expand(ei, ei + tiles, ei + 2 * tiles, ei + 3 * tiles, tiles,
                     dyt + (long)(i * 6) * stride + (long)o * tiles, stride);
        }
    }
}

/* One row of Gᵀ·(u0 … u5), elementwise over n filters; out rows `stride` apart, with G as above
 * g_rows:
 *
 *          ⎡ 1/4  -1/6  -1/6  1/24   1/24  0 ⎤
 *     Gᵀ = ⎢   0  -1/6   1/6  1/12  -1/12  0 ⎥
 *          ⎣   0  -1/6  -1/6   1/6    1/6  1 ⎦ */
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
    long q0, q1;           /* the block's tile rows */
    float *v, *dyt, *du;   /* in the caller's buffer (gradient_layout) */
    float *dw, *dbias;
    int first;
} gradient_job;

static void gradient_inputs(void *ctx, int part, long start, long end) {
    const gradient_job *j = ctx;
    transform_input(&j->cv, j->q0, j->q1, (int)start, (int)end, j->v, slice(&j->cv, part));
}

static void gradient_outputs(void *ctx, int part, long start, long end) {
    const gradient_job *j = ctx;
    transform_gradient(&j->cv, j->q0, j->q1, (int)start, (int)end, j->dyt, slice(&j->cv, part));
}

static void gradient_products(void *ctx, int part, long start, long end) {
    (void)part;
    const gradient_job *j = ctx;
    const long tiles = (j->q1 - j->q0) * j->cv.tiles_w, K = j->cv.outs, C = j->cv.ins;
    for (long p = start; p < end; p++)
        sgemm('N', 'T', K, C, tiles, 1.0f, j->dyt + p * K * tiles, tiles, j->v + p * C * tiles, tiles,
              j->first ? 0.0f : 1.0f, j->du + p * K * C, C);
}

/* dw[o][i] = Gᵀ du[·][o][i] G for output channels [start, end), and the bias gradient. */
static void gradient_weights(void *ctx, int part, long start, long end) {
    const gradient_job *j = ctx;
    const long C = j->cv.ins, plane = (long)j->cv.outs * C;
    float *work = slice(&j->cv, part), *h = work + j->cv.slice.h, *r = work + j->cv.slice.r;
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
}

/* The forward convolution's geometry, which the weight gradient tiles as the forward pass does;
 * y is the output gradient here (only read). */
static wino_conv gradient_geometry(const graft_conv_shape *s, const float *x, const float *dy) {
    return (wino_conv){.batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
                       .outs = s->out_channels, .padding = s->padding, .x = x, .y = (float *)dy};
}

long graft_winograd_weight_gradient_floats(const graft_conv_shape *s) {
    wino_conv cv = gradient_geometry(s, NULL, NULL);
    return plan_gradient(&cv).floats;
}

int graft_winograd_backward_weights(const graft_conv_shape *s, const float *x, const float *dy, float *buffer,
                                    float *dw, float *dbias) {
    if (!graft_winograd_supported(s)) return GRAFT_UNSUPPORTED;
    gradient_job j = {.cv = gradient_geometry(s, x, dy), .dw = dw, .dbias = s->has_bias ? dbias : NULL};
    wino_conv *cv = &j.cv;
    const gradient_layout l = plan_gradient(cv);
    if (allocate_slab(cv)) return GRAFT_OUT_OF_MEMORY;
    j.du = buffer + l.du;
    j.v = buffer + l.v;
    j.dyt = buffer + l.dyt;
    j.first = 1;
    for (j.q0 = 0; j.q0 < cv->tile_rows; j.q0 += cv->rows_per_block) {
        j.q1 = j.q0 + cv->rows_per_block < cv->tile_rows ? j.q0 + cv->rows_per_block : cv->tile_rows;
        graft_parallel_parts(cv->ins, 1, cv->parts, gradient_inputs, &j);
        graft_parallel_parts(cv->outs, 1, cv->parts, gradient_outputs, &j);
        graft_parallel_parts(POINTS, 1, cv->parts, gradient_products, &j);
        j.first = 0;
    }
    graft_parallel_parts(cv->outs, 1, cv->parts, gradient_weights, &j);
    return 0;
}

int graft_winograd_forward(const graft_conv_shape *s, const float *x, const float *w, const float *bias,
                           float *u, float *y) {
    if (!graft_winograd_supported(s)) return GRAFT_UNSUPPORTED;
    wino_conv cv = {
        .batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
        .outs = s->out_channels, .padding = s->padding,
        .x = x, .u = u, .bias = s->has_bias ? bias : NULL, .relu = s->fuse_relu, .y = y,
    };
    plan_convolution(&cv);
    weight_job wj = {&cv, w, u, s->out_channels, s->in_channels, 0};
    return convolve(&cv, &wj);
}

int graft_winograd_transform_weights(const graft_conv_shape *s, const float *w, float *u) {
    if (!graft_winograd_supported(s)) return GRAFT_UNSUPPORTED;
    wino_conv cv = {
        .batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
        .outs = s->out_channels, .padding = s->padding,
    };
    plan_convolution(&cv);
    if (allocate_slab(&cv)) return GRAFT_OUT_OF_MEMORY;
    weight_job wj = {&cv, w, u, s->out_channels, s->in_channels, 0};
    graft_parallel_parts(wj.outs, 1, cv.parts, transform_weights, &wj);
    return 0;
}

int graft_winograd_forward_transformed(const graft_conv_shape *s, const float *x, const float *u, const float *bias,
                                       float *y) {
    if (!graft_winograd_supported(s)) return GRAFT_UNSUPPORTED;
    wino_conv cv = {
        .batch = s->batch, .ins = s->in_channels, .height = s->height, .width = s->width,
        .outs = s->out_channels, .padding = s->padding,
        .x = x, .u = u, .bias = s->has_bias ? bias : NULL, .relu = s->fuse_relu, .y = y,
    };
    plan_convolution(&cv);
    if (allocate_slab(&cv)) return GRAFT_OUT_OF_MEMORY;
    graft_parallel_parts(cv.blocks, 1, cv.parts, run_blocks, &cv);
    return 0;
}

int graft_winograd_backward_data(const graft_conv_shape *s, const float *dy, const float *w, float *u, float *dx) {
    if (!graft_winograd_supported(s)) return GRAFT_UNSUPPORTED;
    /* The input gradient is the output gradient convolved with the rotated, transposed filters,
     * padded by 2 - padding: its size is the input's. */
    wino_conv cv = {
        .batch = s->batch, .ins = s->out_channels, .height = s->height + 2 * s->padding - 2,
        .width = s->width + 2 * s->padding - 2, .outs = s->in_channels, .padding = 2 - s->padding,
        .x = dy, .u = u, .bias = NULL, .relu = 0, .y = dx,
    };
    plan_convolution(&cv);
    weight_job wj = {&cv, w, u, s->in_channels, s->out_channels, 1};
    return convolve(&cv, &wj);
}
