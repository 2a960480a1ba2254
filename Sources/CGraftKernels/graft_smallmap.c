/* Convolutions whose output map is tiny (ResNet's layer3 and layer4 at 32²: 2×2 and 1×1), as one
 * matrix product per output position over the whole batch.
 *
 * On such maps most of a 3×3 window lies in the padding: at 1×1 only the centre tap reads the
 * image. oneDNN's direct kernels still walk every tap, image by image, and ran these layers at a
 * few GFLOP/s (benchmarks/README.md, "Small images"). Here each output position p gets the taps t
 * that read inside the image, at input pixels q: its patches over the batch are gathered as
 * A_p[n][j·C + c] = x[n][c][q_j], its filters as B_p[o][j·C + c] = w[o][c][t_j], and
 *   forward          Y_p[n][o]        = A_p · B_pᵀ
 *   input gradient   dA_p[n][j·C + c] = dY_p · B_p   (added into dx[n][c][q_j])
 *   weight gradient  dB_p[o][j·C + c] = dY_pᵀ · A_p  (added into dw[o][c][t_j])
 * with no multiply by a padded zero. Each pass is two parallel loops: the gathers, then the
 * products with their scatters, split so that no two workers write the same element (the
 * forward and the weight gradient by output channel, the input gradient by image). */
#include "graft_kernels.h"

#include <string.h>

enum { MAX_POSITIONS = GRAFT_SMALL_MAP_POSITIONS, MAX_TAPS = 49 };

typedef struct small_conv {
    int batch, ins, height, width, outs, kernel, stride, padding;
    int positions;                 /* output positions per image */
    int taps[MAX_POSITIONS];       /* taps that read inside the image, per position */
    int tap[MAX_POSITIONS][MAX_TAPS], pixel[MAX_POSITIONS][MAX_TAPS];
    long a[MAX_POSITIONS], b[MAX_POSITIONS]; /* offsets of A_p and B_p in the arena, in floats */
    long floats;                   /* A, B and the per-position staging, in floats */
    float *arena, *stage;          /* stage: Y_p or dY_p as an [N][O] matrix */
    const float *x, *w, *dy, *bias;
    float *y, *dx, *dw, *dbias;
    int relu;
} small_conv;

int graft_small_map_supported(const graft_conv_shape *s) {
    if (s->kernel < 1 || s->kernel * s->kernel > MAX_TAPS || s->stride < 1 || s->padding < 0) return 0;
    int oh = (s->height + 2 * s->padding - s->kernel) / s->stride + 1;
    int ow = (s->width + 2 * s->padding - s->kernel) / s->stride + 1;
    return oh > 0 && ow > 0 && oh * ow <= MAX_POSITIONS;
}

/* The taps of every output position, and where A_p, B_p and the staging lie in the arena. */
static int plan(small_conv *cv, const graft_conv_shape *s) {
    if (!graft_small_map_supported(s)) return GRAFT_UNSUPPORTED;
    cv->batch = s->batch, cv->ins = s->in_channels, cv->height = s->height, cv->width = s->width;
    cv->outs = s->out_channels, cv->kernel = s->kernel, cv->stride = s->stride, cv->padding = s->padding;
    int oh = (s->height + 2 * s->padding - s->kernel) / s->stride + 1;
    int ow = (s->width + 2 * s->padding - s->kernel) / s->stride + 1;
    cv->positions = oh * ow;
    long size = 0;
    for (int p = 0; p < cv->positions; p++) {
        int oy = p / ow, ox = p % ow, n = 0;
        for (int ki = 0; ki < s->kernel; ki++)
            for (int kj = 0; kj < s->kernel; kj++) {
                int iy = oy * s->stride - s->padding + ki, ix = ox * s->stride - s->padding + kj;
                if (iy < 0 || iy >= s->height || ix < 0 || ix >= s->width) continue;
                cv->tap[p][n] = ki * s->kernel + kj;
                cv->pixel[p][n] = iy * s->width + ix;
                n++;
            }
        cv->taps[p] = n;
        long k = (long)n * s->in_channels;
        cv->a[p] = size;
        size += (long)s->batch * k;
        cv->b[p] = size;
        size += (long)s->out_channels * k;
        size = (size + 15) / 16 * 16;
    }
    long stage = size;
    size += (long)s->batch * s->out_channels;
    cv->arena = graft_arena(sizeof(float) * size);
    if (!cv->arena) return GRAFT_OUT_OF_MEMORY;
    cv->stage = cv->arena + stage;
    cv->floats = size;
    return 0;
}

static long patch(const small_conv *cv, int p) { return (long)cv->taps[p] * cv->ins; }

/* A_p rows [n0, n1): the patches of images n0 … n1-1. */
static void gather_patches(const small_conv *cv, long n0, long n1) {
    const long hw = (long)cv->height * cv->width, chw = hw * cv->ins;
    for (int p = 0; p < cv->positions; p++) {
        const long k = patch(cv, p);
        for (long n = n0; n < n1; n++) {
            float *row = cv->arena + cv->a[p] + n * k;
            const float *img = cv->x + n * chw;
            for (int j = 0; j < cv->taps[p]; j++) {
                const float *src = img + cv->pixel[p][j];
                float *dst = row + (long)j * cv->ins;
                for (long c = 0; c < cv->ins; c++) dst[c] = src[c * hw];
            }
        }
    }
}

/* B_p rows [o0, o1): the filters' taps that position p uses. */
static void gather_filters(const small_conv *cv, long o0, long o1) {
    const long kk = (long)cv->kernel * cv->kernel;
    for (int p = 0; p < cv->positions; p++) {
        const long k = patch(cv, p);
        for (long o = o0; o < o1; o++) {
            float *row = cv->arena + cv->b[p] + o * k;
            const float *filter = cv->w + o * cv->ins * kk;
            for (int j = 0; j < cv->taps[p]; j++) {
                const float *src = filter + cv->tap[p][j];
                float *dst = row + (long)j * cv->ins;
                for (long c = 0; c < cv->ins; c++) dst[c] = src[c * kk];
            }
        }
    }
}

/* Units [start, end) of the gathers of one pass: first the images, then the output channels. */
static void gather_forward(void *ctx, int part, long start, long end) {
    (void)part;
    const small_conv *cv = ctx;
    long n0 = start < cv->batch ? start : cv->batch, n1 = end < cv->batch ? end : cv->batch;
    if (n0 < n1) gather_patches(cv, n0, n1);
    long o0 = start > cv->batch ? start - cv->batch : 0, o1 = end - cv->batch;
    if (o0 < o1) gather_filters(cv, o0, o1);
}

/* Output channels [o0, o1) of every position: Y_p = A_p·B_pᵀ, then bias, ReLU and NCHW. */
static void products_forward(void *ctx, int part, long o0, long o1) {
    (void)part;
    const small_conv *cv = ctx;
    const long P = cv->positions, O = cv->outs;
    for (int p = 0; p < P; p++) {
        const long k = patch(cv, p);
        /* With one position Y_p is the output itself ([N][O] = NCHW with 1×1). */
        float *out = P == 1 ? cv->y : cv->stage;
        if (k > 0)
            graft_sgemm('N', 'T', cv->batch, o1 - o0, k, 1.0f, cv->arena + cv->a[p], k, cv->arena + cv->b[p] + o0 * k,
                        k, 0.0f, out + o0, O);
        else
            for (long n = 0; n < cv->batch; n++) memset(out + n * O + o0, 0, sizeof(float) * (o1 - o0));
        for (long n = 0; n < cv->batch; n++) {
            const float *src = out + n * O;
            float *dst = cv->y + n * O * P + p;
            for (long o = o0; o < o1; o++) {
                float v = src[o] + (cv->bias ? cv->bias[o] : 0.0f);
                if (cv->relu) v = v < 0 ? 0 : v; /* NaN passes, as PyTorch's ReLU lets it */
                dst[o * P] = v;
            }
        }
    }
}

int graft_small_map_forward(const graft_conv_shape *s, const float *x, const float *w, const float *bias, float *y) {
    small_conv cv;
    int rc = plan(&cv, s);
    if (rc) return rc;
    cv.x = x, cv.w = w, cv.bias = s->has_bias ? bias : NULL, cv.y = y, cv.relu = s->fuse_relu;
    int parts = graft_parallel_threads();
    graft_parallel_parts((long)cv.batch + cv.outs, 1, parts, gather_forward, &cv);
    graft_parallel_parts(cv.outs, 8, parts, products_forward, &cv);
    return 0;
}

/* ---- input gradient ---- */

static void gather_backward_data(void *ctx, int part, long o0, long o1) {
    (void)part;
    gather_filters(ctx, o0, o1);
}

/* dY_p as an [N][O] matrix, rows [n0, n1). */
static const float *output_gradient(const small_conv *cv, int p, long n0, long n1, float *stage) {
    const long P = cv->positions, O = cv->outs;
    if (P == 1) return cv->dy;
    for (long n = n0; n < n1; n++) {
        const float *src = cv->dy + n * O * P + p;
        float *dst = stage + n * O;
        for (long o = 0; o < O; o++) dst[o] = src[o * P];
    }
    return stage;
}

/* Images [n0, n1): dx = Σ_p scatter(dY_p · B_p). The product's rows are these images', written
 * into the A_p rows of the same images (free in this pass). */
static void products_backward_data(void *ctx, int part, long n0, long n1) {
    (void)part;
    const small_conv *cv = ctx;
    const long hw = (long)cv->height * cv->width, chw = hw * cv->ins, O = cv->outs;
    memset(cv->dx + n0 * chw, 0, sizeof(float) * (n1 - n0) * chw);
    for (int p = 0; p < cv->positions; p++) {
        const long k = patch(cv, p);
        if (k == 0) continue;
        const float *g = output_gradient(cv, p, n0, n1, cv->stage);
        float *da = cv->arena + cv->a[p];
        graft_sgemm('N', 'N', n1 - n0, k, O, 1.0f, g + n0 * O, O, cv->arena + cv->b[p], k, 0.0f, da + n0 * k, k);
        for (long n = n0; n < n1; n++) {
            const float *row = da + n * k;
            float *img = cv->dx + n * chw;
            for (int j = 0; j < cv->taps[p]; j++) {
                float *dst = img + cv->pixel[p][j];
                const float *src = row + (long)j * cv->ins;
                for (long c = 0; c < cv->ins; c++) dst[c * hw] += src[c];
            }
        }
    }
}

int graft_small_map_backward_data(const graft_conv_shape *s, const float *dy, const float *w, float *dx) {
    small_conv cv;
    int rc = plan(&cv, s);
    if (rc) return rc;
    cv.dy = dy, cv.w = w, cv.dx = dx;
    int parts = graft_parallel_threads();
    graft_parallel_parts(cv.outs, 1, parts, gather_backward_data, &cv);
    graft_parallel_parts(cv.batch, 1, parts, products_backward_data, &cv);
    return 0;
}

/* ---- weight gradient ---- */

static void gather_backward_weights(void *ctx, int part, long n0, long n1) {
    (void)part;
    const small_conv *cv = ctx;
    gather_patches(cv, n0, n1);
}

/* Output channels [o0, o1): dw += Σ_p scatter(dY_pᵀ · A_p), dbias += Σ dY. The product's rows
 * are these channels', written into the B_p rows of the same channels (free in this pass); dY_p
 * is read in place with stride P (gathered first where P > 1, by each worker for its own
 * channels). */
static void products_backward_weights(void *ctx, int part, long o0, long o1) {
    (void)part;
    const small_conv *cv = ctx;
    const long P = cv->positions, O = cv->outs, kk = (long)cv->kernel * cv->kernel;
    for (int p = 0; p < P; p++) {
        const long k = patch(cv, p);
        const float *g = cv->dy;
        if (P > 1) {
            for (long n = 0; n < cv->batch; n++) {
                const float *src = cv->dy + n * O * P + p;
                float *dst = cv->stage + n * O;
                for (long o = o0; o < o1; o++) dst[o] = src[o * P];
            }
            g = cv->stage;
        }
        if (cv->dbias)
            for (long n = 0; n < cv->batch; n++)
                for (long o = o0; o < o1; o++) cv->dbias[o] += g[n * O + o];
        if (k == 0) continue;
        float *db = cv->arena + cv->b[p];
        graft_sgemm('T', 'N', o1 - o0, k, cv->batch, 1.0f, g + o0, O, cv->arena + cv->a[p], k, 0.0f, db + o0 * k, k);
        for (long o = o0; o < o1; o++) {
            const float *row = db + o * k;
            float *filter = cv->dw + o * cv->ins * kk;
            for (int j = 0; j < cv->taps[p]; j++) {
                float *dst = filter + cv->tap[p][j];
                const float *src = row + (long)j * cv->ins;
                for (long c = 0; c < cv->ins; c++) dst[c * kk] += src[c];
            }
        }
    }
}

int graft_small_map_backward_weights(const graft_conv_shape *s, const float *x, const float *dy, float *dw,
                                     float *dbias) {
    small_conv cv;
    int rc = plan(&cv, s);
    if (rc) return rc;
    cv.x = x, cv.dy = dy, cv.dw = dw, cv.dbias = s->has_bias ? dbias : NULL;
    int parts = graft_parallel_threads();
    graft_parallel_parts(cv.batch, 1, parts, gather_backward_weights, &cv);
    graft_parallel_parts(cv.outs, 8, parts, products_backward_weights, &cv);
    return 0;
}
