// Convolution kernels compared on ResNet34 layers: im2col + OpenBLAS sgemm (Graft's kernel)
// versus oneDNN direct convolution (blocked layouts) and oneDNN Winograd, forward and backward,
// plus the machine's sgemm peak. Built and run by benchmarks/run.sh --kernels:
//   g++ -O2 -std=c++17 conv_kernels.cpp -ldnnl -lopenblas -o conv_kernels && ./conv_kernels
// Prints one JSON line per measurement (median of the timed repetitions).
#include <cblas.h>
#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

using namespace dnnl;

static double median_seconds(const std::function<void()>& f, int reps) {
    f();  // warm-up
    std::vector<double> t;
    for (int i = 0; i < reps; i++) {
        auto a = std::chrono::steady_clock::now();
        f();
        t.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
}

struct Layer { const char* name; int n, c, k, h, stride; };

static void im2col(const float* x, int c, int h, int w, int oh, int ow, int s, float* col) {
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < 3; ki++)
            for (int kj = 0; kj < 3; kj++) {
                float* row = col + ((ci * 3 + ki) * 3 + kj) * oh * ow;
                for (int y = 0; y < oh; y++) {
                    int iy = y * s - 1 + ki;
                    for (int xx = 0; xx < ow; xx++) {
                        int ix = xx * s - 1 + kj;
                        row[y * ow + xx] = (iy < 0 || iy >= h || ix < 0 || ix >= w) ? 0.f : x[(ci * h + iy) * w + ix];
                    }
                }
            }
}

static void col2im(const float* col, int c, int h, int w, int oh, int ow, int s, float* x) {
    for (int ci = 0; ci < c; ci++)
        for (int ki = 0; ki < 3; ki++)
            for (int kj = 0; kj < 3; kj++) {
                const float* row = col + ((ci * 3 + ki) * 3 + kj) * oh * ow;
                for (int y = 0; y < oh; y++) {
                    int iy = y * s - 1 + ki;
                    if (iy < 0 || iy >= h) continue;
                    for (int xx = 0; xx < ow; xx++) {
                        int ix = xx * s - 1 + kj;
                        if (ix >= 0 && ix < w) x[(ci * h + iy) * w + ix] += row[y * ow + xx];
                    }
                }
            }
}

static void report(const char* layer, const char* kernel, const char* pass, double seconds, double gflop) {
    std::printf("{\"layer\":\"%s\",\"kernel\":\"%s\",\"pass\":\"%s\",\"ms\":%.2f,\"gflops\":%.1f}\n",
                layer, kernel, pass, seconds * 1e3, gflop / seconds);
    std::fflush(stdout);
}

int main(int argc, char** argv) {
    int reps = argc > 1 ? std::atoi(argv[1]) : 5;
    // "algorithms": only oneDNN direct against Winograd, on every 3x3 stride-1 shape of ResNet34
    // (batch 32) and the vanilla CNN (batch 64) -- the measurements behind Graft's per-layer choice.
    bool algorithmsOnly = argc > 2 && std::strcmp(argv[2], "algorithms") == 0;
    std::mt19937 gen(1);
    std::normal_distribution<float> nd;

    // sgemm peak: square products, the best of a few sizes.
    for (int s : {1024, 2048}) {
        if (algorithmsOnly) break;
        std::vector<float> a(size_t(s) * s), b(size_t(s) * s), c(size_t(s) * s);
        for (auto& v : a) v = nd(gen);
        for (auto& v : b) v = nd(gen);
        double t = median_seconds([&] {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, s, s, s, 1, a.data(), s, b.data(), s, 0, c.data(), s);
        }, reps);
        char name[32];
        std::snprintf(name, sizeof name, "sgemm%d", s);
        report(name, "openblas", "gemm", t, 2.0 * s * s * s / 1e9);
        t = median_seconds([&] {
            dnnl_sgemm('N', 'N', s, s, s, 1, a.data(), s, b.data(), s, 0, c.data(), s);
        }, reps);
        report(name, "onednn", "gemm", t, 2.0 * s * s * s / 1e9);
    }

    engine eng(engine::kind::cpu, 0);
    stream strm(eng);
    std::vector<Layer> layers = {
        {"layer1 3x3 64->64 56x56", 32, 64, 64, 56, 1},
        {"layer3 3x3 256->256 14x14", 32, 256, 256, 14, 1},
        {"layer4 3x3 512->512 7x7", 32, 512, 512, 7, 1},
    };
    // A third argument sets the batch of every layer (small batches change the choice).
    int batchOverride = argc > 3 ? std::atoi(argv[3]) : 0;
    if (algorithmsOnly)
        layers = {
            {"layer1 3x3 64->64 56x56", 32, 64, 64, 56, 1},
            {"layer2 3x3 128->128 28x28", 32, 128, 128, 28, 1},
            {"layer3 3x3 256->256 14x14", 32, 256, 256, 14, 1},
            {"layer4 3x3 512->512 7x7", 32, 512, 512, 7, 1},
            {"vanilla1 3x3 3->32 128x128", 64, 3, 32, 128, 1},
            {"vanilla2 3x3 32->64 64x64", 64, 32, 64, 64, 1},
            {"vanilla3 3x3 64->128 32x32", 64, 64, 128, 32, 1},
            {"vanilla4 3x3 128->256 16x16", 64, 128, 256, 16, 1},
        };
    if (batchOverride > 0)
        for (Layer& L : layers) L.n = batchOverride;
    for (const Layer& L : layers) {
        int oh = (L.h + 2 - 3) / L.stride + 1, ow = oh;
        int K = L.c * 9, HW = oh * ow;
        double gflop = 2.0 * L.n * L.k * K * HW / 1e9;
        std::vector<float> x(size_t(L.n) * L.c * L.h * L.h), w(size_t(L.k) * K), y(size_t(L.n) * L.k * HW);
        std::vector<float> gx(x.size()), gw(w.size()), col(size_t(K) * HW);
        for (auto& v : x) v = nd(gen);
        for (auto& v : w) v = nd(gen) * 0.05f;
        for (auto& v : y) v = nd(gen);

        double t = 0;
        // im2col + sgemm, one image at a time.
        if (!algorithmsOnly) {
        t = median_seconds([&] {
            for (int i = 0; i < L.n; i++) {
                im2col(x.data() + size_t(i) * L.c * L.h * L.h, L.c, L.h, L.h, oh, ow, L.stride, col.data());
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, L.k, HW, K, 1, w.data(), K, col.data(), HW,
                            0, y.data() + size_t(i) * L.k * HW, HW);
            }
        }, reps);
        report(L.name, "im2col+sgemm", "forward", t, gflop);
        t = median_seconds([&] {
            std::fill(gx.begin(), gx.end(), 0.f);
            for (int i = 0; i < L.n; i++) {
                cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, K, HW, L.k, 1, w.data(), K,
                            y.data() + size_t(i) * L.k * HW, HW, 0, col.data(), HW);
                col2im(col.data(), L.c, L.h, L.h, oh, ow, L.stride, gx.data() + size_t(i) * L.c * L.h * L.h);
            }
        }, reps);
        report(L.name, "im2col+sgemm", "backward-data", t, gflop);
        t = median_seconds([&] {
            for (int i = 0; i < L.n; i++) {
                im2col(x.data() + size_t(i) * L.c * L.h * L.h, L.c, L.h, L.h, oh, ow, L.stride, col.data());
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, L.k, K, HW, 1,
                            y.data() + size_t(i) * L.k * HW, HW, col.data(), HW, i ? 1.f : 0.f, gw.data(), K);
            }
        }, reps);
        report(L.name, "im2col+sgemm", "backward-weights", t, gflop);
        }

        // oneDNN: user memory NCHW/OIHW, primitive picks its blocked layouts; the reorders to and
        // from them are timed separately (a network keeps activations blocked between layers).
        memory::dims src_d = {L.n, L.c, L.h, L.h}, wei_d = {L.k, L.c, 3, 3}, dst_d = {L.n, L.k, oh, ow};
        memory::dims strides = {L.stride, L.stride}, pad = {1, 1};
        auto md = [](memory::dims d, memory::format_tag f) { return memory::desc(d, memory::data_type::f32, f); };
        memory user_src(md(src_d, memory::format_tag::nchw), eng, x.data());
        memory user_wei(md(wei_d, memory::format_tag::oihw), eng, w.data());
        memory user_dst(md(dst_d, memory::format_tag::nchw), eng, y.data());
        auto any = memory::format_tag::any;
        for (int variant = 0; variant < (algorithmsOnly ? 2 : 3); variant++) {
            auto alg = variant == 1 ? algorithm::convolution_winograd : algorithm::convolution_direct;
            const char* kname = variant == 0 ? "onednn-direct" : variant == 1 ? "onednn-winograd" : "onednn-nchw";
            auto act = variant == 2 ? memory::format_tag::nchw : any;
            auto wfmt = variant == 2 ? memory::format_tag::oihw : any;
            try {
                convolution_forward::desc fd(prop_kind::forward_training, alg, md(src_d, act), md(wei_d, wfmt),
                                             md(dst_d, act), strides, pad, pad);
                convolution_forward::primitive_desc fpd(fd, eng);
                memory src(fpd.src_desc(), eng), wei(fpd.weights_desc(), eng), dst(fpd.dst_desc(), eng);
                reorder(user_src, src).execute(strm, user_src, src);
                reorder(user_wei, wei).execute(strm, user_wei, wei);
                convolution_forward fwd(fpd);
                t = median_seconds([&] {
                    fwd.execute(strm, {{DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, wei}, {DNNL_ARG_DST, dst}});
                    strm.wait();
                }, reps);
                report(L.name, kname, "forward", t, gflop);
                t = median_seconds([&] {
                    reorder(user_src, src).execute(strm, user_src, src);
                    reorder(dst, user_dst).execute(strm, dst, user_dst);
                    strm.wait();
                }, reps);
                report(L.name, kname, "reorders-nchw", t, gflop);

                std::printf("{\"layer\":\"%s\",\"kernel\":\"%s\",\"impl\":\"%s\"}\n", L.name, kname, fpd.impl_info_str());
                convolution_backward_data::desc bd(alg, md(src_d, act), md(wei_d, wfmt), md(dst_d, act), strides, pad, pad);
                convolution_backward_data::primitive_desc bpd(bd, eng, fpd);
                memory gsrc(bpd.diff_src_desc(), eng), gdst(bpd.diff_dst_desc(), eng), bwei(bpd.weights_desc(), eng);
                reorder(user_dst, gdst).execute(strm, user_dst, gdst);
                reorder(user_wei, bwei).execute(strm, user_wei, bwei);
                convolution_backward_data bwdd(bpd);
                t = median_seconds([&] {
                    bwdd.execute(strm, {{DNNL_ARG_DIFF_DST, gdst}, {DNNL_ARG_WEIGHTS, bwei}, {DNNL_ARG_DIFF_SRC, gsrc}});
                    strm.wait();
                }, reps);
                report(L.name, kname, "backward-data", t, gflop);

                convolution_backward_weights::desc wd(alg, md(src_d, act), md(wei_d, wfmt), md(dst_d, act), strides, pad, pad);
                convolution_backward_weights::primitive_desc wpd(wd, eng, fpd);
                memory wsrc(wpd.src_desc(), eng), wdst(wpd.diff_dst_desc(), eng), gwei(wpd.diff_weights_desc(), eng);
                reorder(user_src, wsrc).execute(strm, user_src, wsrc);
                reorder(user_dst, wdst).execute(strm, user_dst, wdst);
                convolution_backward_weights bwdw(wpd);
                t = median_seconds([&] {
                    bwdw.execute(strm, {{DNNL_ARG_SRC, wsrc}, {DNNL_ARG_DIFF_DST, wdst}, {DNNL_ARG_DIFF_WEIGHTS, gwei}});
                    strm.wait();
                }, reps);
                report(L.name, kname, "backward-weights", t, gflop);
            } catch (const dnnl::error& e) {
                std::printf("{\"layer\":\"%s\",\"kernel\":\"%s\",\"unavailable\":\"%s\"}\n", L.name, kname, e.what());
            }
        }
    }
    return 0;
}
