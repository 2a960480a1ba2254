#include "graft_jpeg.h"

#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define GRAFT_X86 1
#endif

static inline uint8_t clip8(int32_t v) { return v <= 0 ? 0 : (v >= 255 ? 255 : (uint8_t)v); }

void graft_resample_rows_portable(const uint8_t *src, size_t src_stride, int rows, uint8_t *dst, int out_width,
                                  const long *first, const long *count, const int32_t *weights, int taps,
                                  int shift) {
    const int32_t half = (int32_t)1 << (shift - 1);
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = src + (size_t)y * src_stride;
        uint8_t *out = dst + (size_t)y * out_width * 3;
        for (int x = 0; x < out_width; x++) {
            const uint8_t *p = row + first[x] * 3;
            const int32_t *w = weights + (size_t)x * taps;
            uint32_t s0 = (uint32_t)half, s1 = (uint32_t)half, s2 = (uint32_t)half;
            for (long k = 0; k < count[x]; k++, p += 3) {
                s0 += (uint32_t)p[0] * (uint32_t)w[k];
                s1 += (uint32_t)p[1] * (uint32_t)w[k];
                s2 += (uint32_t)p[2] * (uint32_t)w[k];
            }
            out[x * 3] = clip8((int32_t)s0 >> shift);
            out[x * 3 + 1] = clip8((int32_t)s1 >> shift);
            out[x * 3 + 2] = clip8((int32_t)s2 >> shift);
        }
    }
}

#ifdef GRAFT_X86
/* One pixel's three channels (and a fourth byte, weighted into a lane that is dropped) per tap:
 * widen, multiply, add in 32-bit lanes; the two saturating packs clamp to 0...255. */
__attribute__((target("sse4.1")))
static void rows_sse41(const uint8_t *src, size_t src_stride, const uint8_t *src_end, int rows, uint8_t *dst,
                       int out_width, const long *first, const long *count, const int32_t *weights, int taps,
                       int shift) {
    const __m128i half = _mm_set1_epi32((int32_t)1 << (shift - 1));
    for (int y = 0; y < rows; y++) {
        const uint8_t *row = src + (size_t)y * src_stride;
        uint8_t *out = dst + (size_t)y * out_width * 3;
        for (int x = 0; x < out_width; x++) {
            const uint8_t *p = row + first[x] * 3;
            const int32_t *w = weights + (size_t)x * taps;
            __m128i sum = half;
            for (long k = 0; k < count[x]; k++, p += 3) {
                int32_t bytes;
                if (p + 4 <= src_end) {
                    memcpy(&bytes, p, 4);
                } else {
                    bytes = (int32_t)((uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16);
                }
                __m128i pixel = _mm_cvtepu8_epi32(_mm_cvtsi32_si128(bytes));
                sum = _mm_add_epi32(sum, _mm_mullo_epi32(pixel, _mm_set1_epi32(w[k])));
            }
            __m128i v = _mm_srai_epi32(sum, shift);
            v = _mm_packus_epi16(_mm_packs_epi32(v, v), v);
            int32_t packed = _mm_cvtsi128_si32(v);
            memcpy(out + x * 3, &packed, 3);
        }
    }
}
#endif

void graft_resample_rows(const uint8_t *src, size_t src_stride, const uint8_t *src_end, int rows,
                         uint8_t *dst, int out_width, const long *first, const long *count,
                         const int32_t *weights, int taps, int shift) {
#ifdef GRAFT_X86
    static int has_sse41 = -1; /* a benign race: every thread computes the same value */
    if (has_sse41 < 0) has_sse41 = __builtin_cpu_supports("sse4.1") ? 1 : 0;
    if (has_sse41) {
        rows_sse41(src, src_stride, src_end, rows, dst, out_width, first, count, weights, taps, shift);
        return;
    }
#else
    (void)src_end;
#endif
    graft_resample_rows_portable(src, src_stride, rows, dst, out_width, first, count, weights, taps, shift);
}
