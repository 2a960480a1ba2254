#ifndef GRAFT_PNG_H
#define GRAFT_PNG_H
/*
 * A small C layer over libpng's classic read API.
 *
 * libpng reports fatal errors through an error callback that must not return: here it longjmps
 * back into graft_png_decode, which set the jump point, so no longjmp ever crosses a Swift frame.
 * The function returns a status code and writes a human-readable message into a caller-owned
 * buffer.
 *
 * libpng only parses the chunks, inflates, unfilters and de-interlaces: it is asked for no
 * transformation (no gamma, no expansion, no 16-to-8 scaling). The conversion of each row to
 * 8-bit RGB is done here, as Pillow's `Image.open(f).convert("RGB")` does it.
 */
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    GRAFT_PNG_OK = 0,
    GRAFT_PNG_EMPTY = 1,        /* zero bytes */
    GRAFT_PNG_NOT_PNG = 2,      /* no PNG signature (0x89 'P' 'N' 'G' \r \n 0x1A \n) */
    GRAFT_PNG_TRUNCATED = 3,    /* the data ends before the image does */
    GRAFT_PNG_CORRUPT = 4,      /* libpng rejected the data; message says why */
    GRAFT_PNG_BUFFER = 5,       /* the output buffer is smaller than width * height * 3 */
    GRAFT_PNG_NOMEM = 6,
    GRAFT_PNG_BAD_ARGUMENT = 7
} graft_png_status;

/* The PNG colour types (IHDR). */
typedef enum {
    GRAFT_PNG_GRAY = 0,
    GRAFT_PNG_RGB = 2,
    GRAFT_PNG_PALETTE = 3,
    GRAFT_PNG_GRAY_ALPHA = 4,
    GRAFT_PNG_RGBA = 6
} graft_png_color_type;

typedef struct {
    int width, height;
    int bit_depth;         /* bits per sample: 1, 2, 4, 8 or 16 */
    int color_type;        /* graft_png_color_type */
    int interlaced;        /* Adam7 */
    int palette_entries;   /* PLTE entries (0 without a palette) */
    int has_transparency;  /* a tRNS chunk (ignored by the conversion, as by Pillow's) */
} graft_png_info;

/*
 * Decodes `data` to RGB, 3 bytes per pixel, rows top to bottom (HWC), into `out`, which must hold
 * width * height * 3 bytes. With out == NULL only the chunks before the image data are read and
 * `info` filled in (a probe).
 *
 * The conversion is Pillow's convert("RGB") of the mode Pillow opens the file in:
 *   grey 1/2/4-bit     sample scaled to 0...255 (x 255, 85, 17), copied into R, G and B
 *   grey 8-bit         copied into R, G and B
 *   grey 16-bit        Pillow opens it as mode I;16, and I;16 -> RGB clips: min(value, 255)
 *   grey + alpha       grey copied, alpha dropped (16-bit: the high byte of grey)
 *   RGB, RGBA          alpha dropped, not composited (16-bit: the high byte of each sample)
 *   palette            PLTE entry of each index; an index past the last entry gives black
 * tRNS is ignored, as convert("RGB") ignores it. A file that ends early, a wrong CRC on a chunk
 * before the image data, image data that fails zlib's Adler-32 check or runs short is an error
 * (never a partial image). As in Pillow, the CRCs of the IDAT chunks are not checked.
 */
int graft_png_decode(const uint8_t *data, size_t size, graft_png_info *info, uint8_t *out,
                     size_t out_capacity, char *message, size_t message_capacity);

#ifdef __cplusplus
}
#endif
#endif
