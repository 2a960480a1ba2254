#include "graft_png.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <png.h>

/* ---------------------------------------------------------------------------------------------
 * The decoder's state, shared with libpng's callbacks. Buffers that must be released after a
 * longjmp live here, not in locals of the function that called setjmp.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    const uint8_t *data;
    size_t size;
    size_t position;
    int truncated;       /* the read callback ran out of data */
    int status;
    char message[200];
    uint8_t *rows;       /* one row, or the whole image at its stored depth when interlaced */
} graft_png_context;

static void set_message(char *message, size_t capacity, const char *text) {
    if (message == NULL || capacity == 0) return;
    snprintf(message, capacity, "%s", text);
}

static void graft_png_error(png_structp png, png_const_charp text) {
    graft_png_context *ctx = (graft_png_context *)png_get_error_ptr(png);
    if (ctx->status == GRAFT_PNG_OK) ctx->status = ctx->truncated ? GRAFT_PNG_TRUNCATED : GRAFT_PNG_CORRUPT;
    snprintf(ctx->message, sizeof ctx->message, "%s", text ? text : "libpng error");
    png_longjmp(png, 1);
}

/* Warnings (and benign errors, made warnings below) are tolerated, as Pillow tolerates them, but
   one: a chunk longer than the limit set below is only a benign error to libpng, which then sets
   the memory aside anyway (up to 2 GiB, claimed by four damaged length bytes). */
static void graft_png_warning(png_structp png, png_const_charp text) {
    if (text != NULL && strstr(text, "chunk data is too large") != NULL) png_error(png, text);
}

static void graft_png_read(png_structp png, png_bytep out, size_t length) {
    graft_png_context *ctx = (graft_png_context *)png_get_io_ptr(png);
    if (length > ctx->size - ctx->position) {
        ctx->truncated = 1;
        png_error(png, "the file ends before the image does");
    }
    memcpy(out, ctx->data + ctx->position, length);
    ctx->position += length;
}

/* Sample `x` of a row packed at `depth` < 8 bits (most significant bits first). */
static inline unsigned packed_sample(const uint8_t *row, size_t x, int depth) {
    size_t bit = x * (size_t)depth;
    unsigned shift = 8u - (unsigned)depth - (unsigned)(bit & 7u);
    return (row[bit >> 3] >> shift) & ((1u << depth) - 1u);
}

/* One row at its stored depth to RGB8, as Pillow's convert("RGB") does (graft_png.h). */
static void convert_row(const uint8_t *src, uint8_t *dst, size_t width, int color_type, int depth,
                        const uint8_t palette[256 * 3]) {
    switch (color_type) {
    case GRAFT_PNG_GRAY:
        if (depth == 16) {
            /* Pillow: mode I;16, whose conversion to RGB clips rather than scales. */
            for (size_t x = 0; x < width; x++) {
                unsigned v = ((unsigned)src[2 * x] << 8) | src[2 * x + 1];
                uint8_t g = (uint8_t)(v > 255 ? 255 : v);
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = g;
            }
        } else if (depth == 8) {
            for (size_t x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x];
        } else {
            /* Pillow's "1", "L;2" and "L;4" unpackers: 255 / (2^depth - 1) = 255, 85 or 17. */
            unsigned scale = 255u / ((1u << depth) - 1u);
            for (size_t x = 0; x < width; x++) {
                uint8_t g = (uint8_t)(packed_sample(src, x, depth) * scale);
                dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = g;
            }
        }
        break;
    case GRAFT_PNG_RGB:
    case GRAFT_PNG_RGBA: {
        /* Pillow's "RGB;16B" and "RGBA;16B" keep the high byte; alpha is dropped. */
        size_t channels = color_type == GRAFT_PNG_RGB ? 3 : 4;
        size_t step = depth == 16 ? 2 : 1;
        for (size_t x = 0; x < width; x++) {
            const uint8_t *s = src + x * channels * step;
            dst[3 * x] = s[0];
            dst[3 * x + 1] = s[step];
            dst[3 * x + 2] = s[2 * step];
        }
        break;
    }
    case GRAFT_PNG_GRAY_ALPHA: {
        /* Pillow opens 8-bit as LA and 16-bit as RGBA (from "LA;16B", the high byte): either way
           the grey is copied and alpha dropped. */
        size_t step = depth == 16 ? 4 : 2;
        for (size_t x = 0; x < width; x++) dst[3 * x] = dst[3 * x + 1] = dst[3 * x + 2] = src[x * step];
        break;
    }
    case GRAFT_PNG_PALETTE:
        for (size_t x = 0; x < width; x++) {
            unsigned i = depth == 8 ? src[x] : packed_sample(src, x, depth);
            memcpy(dst + 3 * x, palette + 3 * i, 3);
        }
        break;
    default:
        break;
    }
}

int graft_png_decode(const uint8_t *data, size_t size, graft_png_info *info, uint8_t *out,
                     size_t out_capacity, char *message, size_t message_capacity) {
    set_message(message, message_capacity, "");
    if (info == NULL || (data == NULL && size > 0)) {
        set_message(message, message_capacity, "invalid argument");
        return GRAFT_PNG_BAD_ARGUMENT;
    }
    memset(info, 0, sizeof(*info));
    if (size == 0) {
        set_message(message, message_capacity, "empty file (0 bytes)");
        return GRAFT_PNG_EMPTY;
    }
    if (size < 8 || png_sig_cmp(data, 0, 8) != 0) {
        set_message(message, message_capacity, "no PNG signature");
        return GRAFT_PNG_NOT_PNG;
    }

    /* On the heap: what changes after setjmp must not be a local of this function. */
    graft_png_context *const ctx = calloc(1, sizeof(graft_png_context));
    if (ctx == NULL) {
        set_message(message, message_capacity, "out of memory");
        return GRAFT_PNG_NOMEM;
    }
    ctx->data = data;
    ctx->size = size;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, graft_png_error, graft_png_warning);
    png_infop pinfo = png ? png_create_info_struct(png) : NULL;
    if (pinfo == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        free(ctx);
        set_message(message, message_capacity, "out of memory");
        return GRAFT_PNG_NOMEM;
    }
    if (setjmp(png_jmpbuf(png))) {
        int status = ctx->status == GRAFT_PNG_OK ? GRAFT_PNG_CORRUPT : ctx->status;
        set_message(message, message_capacity, ctx->message);
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(ctx->rows);
        free(ctx);
        return status;
    }
    png_set_read_fn(png, ctx, graft_png_read);
    /* "Extra compressed data", a palette longer than the bit depth allows and the like: warn and
       go on, as Pillow does. */
    png_set_benign_errors(png, 1);
    /* A chunk other than the image data may hold at most 8 MB (libpng's default limit, made an
       error by graft_png_warning); Pillow refuses text chunks past 1 MB of decompressed data. */
    png_set_chunk_malloc_max(png, 8000000);
    png_read_info(png, pinfo);
    /* Pillow checks the CRCs of the chunks before the image data but not those of IDAT, whose
       contents zlib's Adler-32 still guards: a wrong IDAT CRC is ignored here too. */
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_DEFAULT);

    png_uint_32 width = 0, height = 0;
    int depth = 0, color_type = 0, interlace = 0;
    png_get_IHDR(png, pinfo, &width, &height, &depth, &color_type, &interlace, NULL, NULL);
    info->width = (int)width;
    info->height = (int)height;
    info->bit_depth = depth;
    info->color_type = color_type;
    info->interlaced = interlace != PNG_INTERLACE_NONE;
    info->has_transparency = png_get_valid(png, pinfo, PNG_INFO_tRNS) != 0;
    /* Pillow's palette starts black; PLTE fills the entries it has. */
    uint8_t palette[256 * 3];
    memset(palette, 0, sizeof palette);
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_colorp entries = NULL;
        int count = 0;
        if (png_get_PLTE(png, pinfo, &entries, &count) != 0 && entries != NULL) {
            if (count > 256) count = 256;
            for (int i = 0; i < count; i++) {
                palette[3 * i] = entries[i].red;
                palette[3 * i + 1] = entries[i].green;
                palette[3 * i + 2] = entries[i].blue;
            }
            info->palette_entries = count;
        }
    }
    if (out == NULL) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(ctx);
        return GRAFT_PNG_OK;
    }
    if (out_capacity / 3 / width < height) {
        png_destroy_read_struct(&png, &pinfo, NULL);
        free(ctx);
        set_message(message, message_capacity, "output buffer too small");
        return GRAFT_PNG_BUFFER;
    }

    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, pinfo);
    size_t rowbytes = png_get_rowbytes(png, pinfo);
    size_t stored_rows = passes > 1 ? (size_t)height : 1;
    if (rowbytes == 0 || stored_rows > SIZE_MAX / rowbytes) {
        ctx->status = GRAFT_PNG_NOMEM;
        png_error(png, "image too large");
    }
    /* Zeroed: the de-interlacing passes fill a row a few pixels at a time, reading it as they go. */
    ctx->rows = calloc(stored_rows, rowbytes);
    if (ctx->rows == NULL) {
        ctx->status = GRAFT_PNG_NOMEM;
        png_error(png, "out of memory");
    }
    if (passes > 1) {
        /* Adam7: every pass combines its pixels into the rows; convert once all are in. */
        for (int pass = 0; pass < passes; pass++)
            for (png_uint_32 y = 0; y < height; y++) png_read_row(png, ctx->rows + (size_t)y * rowbytes, NULL);
        for (png_uint_32 y = 0; y < height; y++)
            convert_row(ctx->rows + (size_t)y * rowbytes, out + (size_t)y * width * 3, width, color_type, depth,
                        palette);
    } else {
        for (png_uint_32 y = 0; y < height; y++) {
            png_read_row(png, ctx->rows, NULL);
            convert_row(ctx->rows, out + (size_t)y * width * 3, width, color_type, depth, palette);
        }
    }
    png_destroy_read_struct(&png, &pinfo, NULL);
    free(ctx->rows);
    free(ctx);
    return GRAFT_PNG_OK;
}
