#ifndef GRAFT_JPEG_H
#define GRAFT_JPEG_H
/*
 * A small C layer over libjpeg-turbo's libjpeg API and zlib's inflate.
 *
 * libjpeg reports fatal errors by calling error_exit, which must not return. Here error_exit
 * longjmps back into the C function that called libjpeg; every function below sets its own
 * setjmp point, so no longjmp ever crosses a Swift frame. Functions return a status code and
 * write a human-readable message into a caller-owned buffer.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GRAFT_JPEG_OK = 0,
    GRAFT_JPEG_EMPTY = 1,        /* zero bytes */
    GRAFT_JPEG_NOT_JPEG = 2,     /* no SOI marker (0xFF 0xD8) */
    GRAFT_JPEG_TRUNCATED = 3,    /* the data ends before the image does */
    GRAFT_JPEG_CORRUPT = 4,      /* libjpeg rejected the data; message says why */
    GRAFT_JPEG_UNSUPPORTED = 5,  /* a colour space or component count this shim does not convert */
    GRAFT_JPEG_BUFFER = 6,       /* the output buffer is smaller than width * height * 3 */
    GRAFT_JPEG_NOMEM = 7,
    GRAFT_JPEG_BAD_ARGUMENT = 8
} graft_jpeg_status;

/* The colour space as stored in the file. */
typedef enum {
    GRAFT_JPEG_CS_GRAY = 1,
    GRAFT_JPEG_CS_RGB = 2,   /* YCbCr or plain RGB */
    GRAFT_JPEG_CS_CMYK = 3,
    GRAFT_JPEG_CS_YCCK = 4,
    GRAFT_JPEG_CS_OTHER = 5
} graft_jpeg_colorspace;

typedef struct {
    /* Apply the EXIF Orientation tag (APP1) so the pixels come out upright. */
    int apply_orientation;
    /* 0: full size. Otherwise decode with the largest DCT scale 1/8, 1/4 or 1/2 whose shorter
       side is still at least this many pixels. */
    int min_short_side;
    /* When crop_width > 0: the caller needs only this rectangle of the (scaled) image, and the
       decoder may skip the rest -- IDCT, upsampling and colour conversion of columns outside it
       (jpeg_crop_scanline), all work on rows below it. What it decodes is a slightly larger
       rectangle (iMCU-aligned, with a margin so that fancy upsampling sees the same neighbours as
       in a full decode), reported in the info's region fields; its pixels equal the full decode's.
       Ignored when an EXIF orientation is applied. */
    int crop_x, crop_y, crop_width, crop_height;
} graft_jpeg_options;

typedef struct {
    int stored_width, stored_height;  /* as in the frame header */
    int components;                   /* 1, 3 or 4 */
    int colorspace;                   /* graft_jpeg_colorspace */
    int progressive;
    int orientation;                  /* EXIF orientation 1...8; 1 when absent or invalid */
    int scale_denom;                  /* 1, 2, 4 or 8: the DCT scale chosen */
    int width, height;                /* output size after scaling and orientation */
    int region_x, region_y;           /* the decoded rectangle within that output: */
    int region_width, region_height;  /* the whole image unless a crop was honoured */
} graft_jpeg_info;

/*
 * Decodes `data` to RGB, 3 bytes per pixel, rows top to bottom (HWC), into `out` (the decoded
 * region: region_width pixels a row; `out` must hold width * height * 3 bytes in any case).
 * With out == NULL only the header is read and `info` filled in (a probe).
 * Grayscale is copied into R, G and B; CMYK and YCCK are treated as Adobe-inverted and converted
 * as Pillow does. A file that ends early is an error (never a partly grey image).
 * ISLOW IDCT with fancy upsampling: bit-identical to Pillow's decode.
 */
int graft_jpeg_decode(const uint8_t *data, size_t size, const graft_jpeg_options *options,
                      graft_jpeg_info *info, uint8_t *out, size_t out_capacity,
                      char *message, size_t message_capacity);

/*
 * Encodes `pixels` (HWC, components 1 = gray or 3 = RGB) as a baseline JPEG with libjpeg's
 * defaults (4:2:0 for colour). On success *out is malloc'ed: release it with graft_free.
 */
int graft_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                      uint8_t **out, size_t *out_size, char *message, size_t message_capacity);

/* Inflates a gzip (or zlib) stream. On success *out is malloc'ed: release it with graft_free.
   Returns 0 on success, a non-zero code with a message otherwise. */
int graft_gunzip(const uint8_t *data, size_t size, uint8_t **out, size_t *out_size,
                 char *message, size_t message_capacity);

void graft_free(void *pointer);

/* The horizontal pass of Pillow's 8-bit resample on RGB rows, in C so that it can use SSE4.1
 * where the CPU has it (checked at run time; the package builds for baseline x86-64).
 * For each of `rows` rows and each output column x < out_width:
 *   sum_c = 2^(shift-1) + Σ_{k < count[x]} src[row][(first[x] + k)·3 + c] · weights[x·taps + k]
 *   dst[row][x·3 + c] = clamp(sum_c >> shift, 0, 255)
 * in wrapping 32-bit integer arithmetic, exactly as Pillow computes it. `src` rows are
 * `src_stride` bytes apart, `dst` rows `out_width·3`; no byte at or past `src_end` is read. */
void graft_resample_rows(const uint8_t *src, size_t src_stride, const uint8_t *src_end, int rows,
                         uint8_t *dst, int out_width, const long *first, const long *count,
                         const int32_t *weights, int taps, int shift);

/* The same without SIMD (what CPUs without SSE4.1 run; tests compare the two). */
void graft_resample_rows_portable(const uint8_t *src, size_t src_stride, int rows, uint8_t *dst, int out_width,
                                  const long *first, const long *count, const int32_t *weights, int taps,
                                  int shift);

#ifdef __cplusplus
}
#endif
#endif
