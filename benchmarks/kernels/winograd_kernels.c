/* Graft's Winograd F(4,3) (Sources/CGraftKernels/graft_winograd.c) against oneDNN's kernel for the same
 * layer (direct where this CPU has no oneDNN Winograd, oneDNN's Winograd with `onednn-winograd`),
 * forward, input gradient and weight gradient, on the 3×3 stride-1 layers of ResNet34 and the vanilla CNN: the
 * measurements behind ConvKernels.graftWinogradMinimumPixels. Built and run by
 * benchmarks/run.sh --kernels:
 *   cc -O2 -ISources/CDNNL/include -ISources/CGraftKernels/include $(pkg-config --cflags openblas) \
 *      Sources/CDNNL/graft_dnnl.c Sources/CGraftKernels/*.c benchmarks/kernels/winograd_kernels.c \
 *      -ldnnl $(pkg-config --libs openblas) -lm -o winograd_kernels
 *   ./winograd_kernels REPS [onednn-winograd] [BATCH ...]
 * Prints one JSON line per layer and batch (medians of REPS timed calls after one warm-up), with
 * the largest difference between the two results relative to the largest magnitude. */
#include "graft_dnnl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void fill(float *p, long n, unsigned seed) {
    for (long i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        p[i] = (float)(seed >> 8) / 16777216.0f - 0.5f;
    }
}

static double rel_to_max(const float *a, const float *ref, long n) {
    double diff = 0, mag = 0;
    for (long i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (d > diff) diff = d;
        if (fabs(ref[i]) > mag) mag = fabs(ref[i]);
    }
    return mag > 0 ? diff / mag : diff;
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *t, int n) {
    qsort(t, n, sizeof *t, by_value);
    return t[n / 2];
}

typedef struct layer { const char *name; int batch, in, out, size; } layer;

int main(int argc, char **argv) {
    int reps = argc > 1 ? atoi(argv[1]) : 5, arg = 2, onednn_winograd = 0;
    if (reps < 1 || reps > 64) reps = 5;
    if (argc > arg && strcmp(argv[arg], "onednn-winograd") == 0) onednn_winograd = 1, arg++;
    static const layer layers[] = {
        {"resnet34.layer1", 16, 64, 64, 56},   {"resnet34.layer2", 16, 128, 128, 28},
        {"resnet34.layer3", 16, 256, 256, 14}, {"resnet34.layer4", 32, 512, 512, 7},
        {"vanilla.conv2", 64, 32, 64, 64},     {"vanilla.conv3", 64, 64, 128, 32},
        {"vanilla.conv4", 64, 128, 256, 16},
    };
    int batches[16], nb = 0;
    for (; arg < argc && nb < 16; arg++) batches[nb++] = atoi(argv[arg]);
    if (nb == 0) batches[nb++] = 0; /* the workloads' batch */
    for (int b = 0; b < nb; b++)
        for (size_t l = 0; l < sizeof layers / sizeof *layers; l++) {
            const layer *L = &layers[l];
            graft_conv_shape s = {batches[b] ? batches[b] : L->batch, L->in, L->size, L->size, L->out, 3, 1, 1, 0, 0,
                                  onednn_winograd};
            long nx = (long)s.batch * s.in_channels * s.height * s.width;
            long ny = (long)s.batch * s.out_channels * s.height * s.width, nw = (long)s.out_channels * s.in_channels * 9;
            float *x = malloc(nx * 4), *w = malloc(nw * 4), *y0 = malloc(ny * 4), *y1 = malloc(ny * 4);
            float *dx0 = malloc(nx * 4), *dx1 = malloc(nx * 4);
            float *u = malloc(graft_winograd_weight_gradient_floats(&s) * 4); /* scratch for all three passes */
            float *dw0 = malloc(nw * 4), *dw1 = malloc(nw * 4);
            if (!x || !w || !y0 || !y1 || !dx0 || !dx1 || !u || !dw0 || !dw1) return 1;
            fill(x, nx, 1);
            fill(w, nw, 2);
            double t[6][65];
            for (int r = 0; r <= reps; r++) {
                double a = now();
                graft_conv_forward(&s, x, w, NULL, y0);
                double b1 = now();
                graft_winograd_forward(&s, x, w, NULL, u, y1);
                double c = now();
                graft_conv_backward_data(&s, y0, w, dx0);
                double d = now();
                graft_winograd_backward_data(&s, y0, w, u, dx1);
                double e = now();
                graft_conv_backward_weights(&s, x, y0, dw0, NULL);
                double f = now();
                graft_winograd_backward_weights(&s, x, y0, u, dw1, NULL);
                double g = now();
                if (r > 0) {
                    t[0][r - 1] = b1 - a, t[1][r - 1] = c - b1, t[2][r - 1] = d - c, t[3][r - 1] = e - d;
                    t[4][r - 1] = f - e, t[5][r - 1] = g - f;
                }
            }
            double f0 = median(t[0], reps), f1 = median(t[1], reps), b0 = median(t[2], reps), b1 = median(t[3], reps);
            double w0 = median(t[4], reps), w1 = median(t[5], reps);
            printf("{\"layer\":\"%s\",\"batch\":%d,\"in\":%d,\"out\":%d,\"size\":%d,\"onednn\":\"%s\","
                   "\"forward_onednn_s\":%.5f,\"forward_graft_s\":%.5f,\"forward_speedup\":%.3f,"
                   "\"input_grad_onednn_s\":%.5f,\"input_grad_graft_s\":%.5f,\"input_grad_speedup\":%.3f,"
                   "\"weight_grad_onednn_s\":%.5f,\"weight_grad_graft_s\":%.5f,\"weight_grad_speedup\":%.3f,"
                   "\"forward_rel_to_max\":%.2e,\"input_grad_rel_to_max\":%.2e,\"weight_grad_rel_to_max\":%.2e}\n",
                   L->name, s.batch, s.in_channels, s.out_channels, s.height, graft_conv_implementation(&s, 0), f0, f1,
                   f0 / f1, b0, b1, b0 / b1, w0, w1, w0 / w1, rel_to_max(y1, y0, ny), rel_to_max(dx1, dx0, nx),
                   rel_to_max(dw1, dw0, nw));
            fflush(stdout);
            free(x), free(w), free(y0), free(y1), free(dx0), free(dx1), free(u), free(dw0), free(dw1);
        }
    return 0;
}
