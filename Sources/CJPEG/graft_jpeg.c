#include "graft_jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

/* ---------------------------------------------------------------------------------------------
 * Error manager: fatal errors and the "premature end of file" warning longjmp back into the
 * C function that set `jump`. Buffers that must be released on that path live in this struct.
 * ------------------------------------------------------------------------------------------- */
typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    int status;
    char message[JMSG_LENGTH_MAX];
    uint8_t *temp;       /* decoder: un-oriented image */
    uint8_t *row;        /* decoder: one CMYK row */
    unsigned char *encoded;      /* encoder: libjpeg's memory destination */
    unsigned long encoded_size;
} graft_error_mgr;

static void graft_error_exit(j_common_ptr cinfo) {
    graft_error_mgr *err = (graft_error_mgr *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, err->message);
    if (err->status == GRAFT_JPEG_OK) err->status = GRAFT_JPEG_CORRUPT;
    longjmp(err->jump, 1);
}

static void graft_emit_message(j_common_ptr cinfo, int level) {
    graft_error_mgr *err = (graft_error_mgr *)cinfo->err;
    if (level >= 0) return; /* trace messages */
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        /* libjpeg would pad the rest of the image with grey: refuse instead. */
        (*cinfo->err->format_message)(cinfo, err->message);
        err->status = GRAFT_JPEG_TRUNCATED;
        longjmp(err->jump, 1);
    }
    /* Other warnings (extraneous bytes, corrupt segments) are tolerated, as Pillow does. */
    cinfo->err->num_warnings++;
}

static void graft_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void graft_install_errors(graft_error_mgr *err) {
    memset(err, 0, sizeof(*err));
    jpeg_std_error(&err->pub);
    err->pub.error_exit = graft_error_exit;
    err->pub.emit_message = graft_emit_message;
    err->pub.output_message = graft_output_message;
}

static void set_message(char *message, size_t capacity, const char *text) {
    if (message == NULL || capacity == 0) return;
    snprintf(message, capacity, "%s", text);
}

/* ---------------------------------------------------------------------------------------------
 * EXIF orientation (APP1 "Exif\0\0", TIFF IFD0 tag 0x0112), bounds-checked.
 * ------------------------------------------------------------------------------------------- */
static unsigned read16(const uint8_t *p, int little) {
    return little ? (unsigned)(p[0] | (p[1] << 8)) : (unsigned)((p[0] << 8) | p[1]);
}

static uint32_t read32(const uint8_t *p, int little) {
    return little ? ((uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24))
                  : (((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3]);
}

static int exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
        if (m->marker != JPEG_APP0 + 1 || m->data_length < 14) continue;
        if (memcmp(m->data, "Exif\0\0", 6) != 0) continue;
        const uint8_t *tiff = m->data + 6;
        size_t n = m->data_length - 6;
        int little;
        if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
        else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
        else continue;
        if (read16(tiff + 2, little) != 42) continue;
        uint32_t ifd = read32(tiff + 4, little);
        if ((size_t)ifd + 2 > n) continue;
        unsigned count = read16(tiff + ifd, little);
        for (unsigned i = 0; i < count; i++) {
            size_t entry = (size_t)ifd + 2 + 12 * (size_t)i;
            if (entry + 12 > n) break;
            if (read16(tiff + entry, little) != 0x0112) continue;
            unsigned type = read16(tiff + entry + 2, little);
            unsigned value = 0;
            if (type == 3) value = read16(tiff + entry + 8, little);        /* SHORT */
            else if (type == 4) value = read32(tiff + entry + 8, little);   /* LONG (non-standard) */
            return (value >= 1 && value <= 8) ? (int)value : 1;
        }
    }
    return 1;
}

/* dst(x, y) = src(sx, sy) for the EXIF orientation `o`; dst is sw x sh, or sh x sw for 5...8. */
static void apply_orientation(const uint8_t *src, int sw, int sh, uint8_t *dst, int o) {
    int dw = (o >= 5) ? sh : sw;
    int dh = (o >= 5) ? sw : sh;
    for (int y = 0; y < dh; y++) {
        uint8_t *d = dst + (size_t)y * dw * 3;
        for (int x = 0; x < dw; x++) {
            int sx, sy;
            switch (o) {
            case 2: sx = sw - 1 - x; sy = y; break;
            case 3: sx = sw - 1 - x; sy = sh - 1 - y; break;
            case 4: sx = x; sy = sh - 1 - y; break;
            case 5: sx = y; sy = x; break;
            case 6: sx = y; sy = sh - 1 - x; break;
            case 7: sx = sw - 1 - y; sy = sh - 1 - x; break;
            case 8: sx = sw - 1 - y; sy = x; break;
            default: sx = x; sy = y; break;
            }
            const uint8_t *s = src + ((size_t)sy * sw + sx) * 3;
            d[0] = s[0]; d[1] = s[1]; d[2] = s[2];
            d += 3;
        }
    }
}

/* Pillow's "CMYK;I" unpacking (un-invert) followed by its cmyk2rgb. */
static void cmyk_inverted_to_rgb(const uint8_t *in, uint8_t *out, int width) {
    for (int x = 0; x < width; x++) {
        int c = 255 - in[0], m = 255 - in[1], yy = 255 - in[2], k = 255 - in[3];
        int nk = 255 - k, tmp, v;
#define MULDIV255(a, b) (tmp = (a) * (b) + 128, (((tmp) >> 8) + (tmp)) >> 8)
        v = nk - MULDIV255(c, nk);  out[0] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        v = nk - MULDIV255(m, nk);  out[1] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
        v = nk - MULDIV255(yy, nk); out[2] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
#undef MULDIV255
        in += 4;
        out += 3;
    }
}

int graft_jpeg_decode(const uint8_t *data, size_t size, const graft_jpeg_options *options,
                      graft_jpeg_info *info, uint8_t *out, size_t out_capacity,
                      char *message, size_t message_capacity) {
    set_message(message, message_capacity, "");
    if (info == NULL || (data == NULL && size > 0)) {
        set_message(message, message_capacity, "invalid argument");
        return GRAFT_JPEG_BAD_ARGUMENT;
    }
    memset(info, 0, sizeof(*info));
    if (size == 0) {
        set_message(message, message_capacity, "empty file (0 bytes)");
        return GRAFT_JPEG_EMPTY;
    }
    if (size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        set_message(message, message_capacity, "no JPEG start-of-image marker (0xFF 0xD8 0xFF)");
        return GRAFT_JPEG_NOT_JPEG;
    }
    int apply = options ? options->apply_orientation : 0;
    int min_short = options ? options->min_short_side : 0;

    struct jpeg_decompress_struct cinfo;
    graft_error_mgr err;
    graft_install_errors(&err);
    cinfo.err = &err.pub;
    if (setjmp(err.jump)) {
        set_message(message, message_capacity, err.message);
        jpeg_destroy_decompress(&cinfo);
        free(err.temp);
        free(err.row);
        return err.status;
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    info->stored_width = (int)cinfo.image_width;
    info->stored_height = (int)cinfo.image_height;
    info->components = cinfo.num_components;
    info->progressive = cinfo.progressive_mode ? 1 : 0;
    info->orientation = exif_orientation(&cinfo);
    int cmyk = 0;
    switch (cinfo.jpeg_color_space) {
    case JCS_GRAYSCALE: info->colorspace = GRAFT_JPEG_CS_GRAY; cinfo.out_color_space = JCS_RGB; break;
    case JCS_YCbCr:
    case JCS_RGB: info->colorspace = GRAFT_JPEG_CS_RGB; cinfo.out_color_space = JCS_RGB; break;
    case JCS_CMYK: info->colorspace = GRAFT_JPEG_CS_CMYK; cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    case JCS_YCCK: info->colorspace = GRAFT_JPEG_CS_YCCK; cinfo.out_color_space = JCS_CMYK; cmyk = 1; break;
    default:
        info->colorspace = GRAFT_JPEG_CS_OTHER;
        snprintf(message, message_capacity, "unsupported JPEG colour space with %d components",
                 cinfo.num_components);
        jpeg_destroy_decompress(&cinfo);
        return GRAFT_JPEG_UNSUPPORTED;
    }
    cinfo.dct_method = JDCT_ISLOW;
    cinfo.do_fancy_upsampling = TRUE;
    cinfo.scale_num = 1;
    cinfo.scale_denom = 1;
    if (min_short > 0) {
        unsigned short_side = cinfo.image_width < cinfo.image_height ? cinfo.image_width : cinfo.image_height;
        for (unsigned denom = 8; denom >= 2; denom /= 2) {
            if ((short_side + denom - 1) / denom >= (unsigned)min_short) {
                cinfo.scale_denom = denom;
                break;
            }
        }
    }
    jpeg_calc_output_dimensions(&cinfo);
    info->scale_denom = (int)cinfo.scale_denom;
    int ow = (int)cinfo.output_width, oh = (int)cinfo.output_height;
    int orient = apply ? info->orientation : 1;
    info->width = orient >= 5 ? oh : ow;
    info->height = orient >= 5 ? ow : oh;
    info->region_x = info->region_y = 0;
    info->region_width = info->width;
    info->region_height = info->height;

    if (out == NULL) {
        jpeg_destroy_decompress(&cinfo);
        return GRAFT_JPEG_OK;
    }
    size_t needed = (size_t)ow * (size_t)oh * 3;
    if (out_capacity < needed) {
        snprintf(message, message_capacity, "output buffer holds %zu bytes, %zu needed", out_capacity, needed);
        jpeg_destroy_decompress(&cinfo);
        return GRAFT_JPEG_BUFFER;
    }

    jpeg_start_decompress(&cinfo);
    if ((int)cinfo.output_width != ow || (int)cinfo.output_height != oh ||
        cinfo.output_components != (cmyk ? 4 : 3)) {
        set_message(message, message_capacity, "unexpected output geometry from libjpeg");
        jpeg_destroy_decompress(&cinfo);
        return GRAFT_JPEG_UNSUPPORTED;
    }
    /* Rows [row_first, row_end) and columns [col_first, col_first + ow) are decoded. */
    JDIMENSION row_first = 0, row_end = (JDIMENSION)oh, col_first = 0;
    if (options && options->crop_width > 0 && options->crop_height > 0 && orient == 1) {
        /* Two iMCUs of margin: fancy upsampling reads one chroma sample beyond each edge. */
        int margin = 2 * cinfo.max_h_samp_factor * DCTSIZE;
        int x0 = options->crop_x - margin, x1 = options->crop_x + options->crop_width + margin;
        int y0 = options->crop_y - 2 * cinfo.max_v_samp_factor * DCTSIZE;
        int y1 = options->crop_y + options->crop_height + 2 * cinfo.max_v_samp_factor * DCTSIZE;
        if (x0 < 0) x0 = 0;
        if (y0 < 0) y0 = 0;
        if (x1 > ow) x1 = ow;
        if (y1 > oh) y1 = oh;
        if (x0 < x1 && y0 < y1) {
            JDIMENSION xoff = (JDIMENSION)x0, cw = (JDIMENSION)(x1 - x0);
            if (x0 > 0 || x1 < ow) jpeg_crop_scanline(&cinfo, &xoff, &cw);
            col_first = xoff;
            ow = (int)cinfo.output_width;
            row_end = (JDIMENSION)y1;
            if (y0 > 0) row_first = jpeg_skip_scanlines(&cinfo, (JDIMENSION)y0);
        }
    }
    if (orient == 1) {
        info->region_x = (int)col_first;
        info->region_y = (int)row_first;
        info->region_width = ow;
        info->region_height = (int)(row_end - row_first);
    }
    uint8_t *target = out;
    if (orient != 1) {
        err.temp = (uint8_t *)malloc(needed);
        if (err.temp == NULL) { err.status = GRAFT_JPEG_NOMEM; strcpy(err.message, "out of memory"); longjmp(err.jump, 1); }
        target = err.temp;
    }
    if (cmyk) {
        err.row = (uint8_t *)malloc((size_t)ow * 4);
        if (err.row == NULL) { err.status = GRAFT_JPEG_NOMEM; strcpy(err.message, "out of memory"); longjmp(err.jump, 1); }
    }
    while (cinfo.output_scanline < row_end) {
        size_t y = cinfo.output_scanline - row_first;
        uint8_t *dest_row = target + y * (size_t)ow * 3;
        if (cmyk) {
            JSAMPROW rows[1] = {err.row};
            if (jpeg_read_scanlines(&cinfo, rows, 1) != 1) break;
            cmyk_inverted_to_rgb(err.row, dest_row, ow);
        } else {
            JSAMPROW rows[4];
            JDIMENSION n = row_end - cinfo.output_scanline;
            if (n > 4) n = 4;
            for (JDIMENSION i = 0; i < n; i++) rows[i] = dest_row + (size_t)i * ow * 3;
            if (jpeg_read_scanlines(&cinfo, rows, n) == 0) break;
        }
    }
    if (cinfo.output_scanline < row_end) {
        /* Suspension cannot happen with a memory source; treat it as truncation anyway. */
        err.status = GRAFT_JPEG_TRUNCATED;
        strcpy(err.message, "Premature end of JPEG file");
        longjmp(err.jump, 1);
    }
    /* All rows are decoded; a missing EOI after them is harmless, so skip jpeg_finish_decompress. */
    if (orient != 1) apply_orientation(err.temp, ow, oh, out, orient);
    jpeg_destroy_decompress(&cinfo);
    free(err.temp);
    free(err.row);
    return GRAFT_JPEG_OK;
}

int graft_jpeg_encode(const uint8_t *pixels, int width, int height, int components, int quality,
                      uint8_t **out, size_t *out_size, char *message, size_t message_capacity) {
    set_message(message, message_capacity, "");
    if (pixels == NULL || out == NULL || out_size == NULL || width <= 0 || height <= 0 ||
        (components != 1 && components != 3)) {
        set_message(message, message_capacity, "invalid argument (size or component count)");
        return GRAFT_JPEG_BAD_ARGUMENT;
    }
    *out = NULL;
    *out_size = 0;
    struct jpeg_compress_struct cinfo;
    graft_error_mgr err;
    graft_install_errors(&err);
    cinfo.err = &err.pub;
    if (setjmp(err.jump)) {
        set_message(message, message_capacity, err.message);
        jpeg_destroy_compress(&cinfo);
        free(err.encoded);
        return err.status;
    }
    jpeg_create_compress(&cinfo);
    jpeg_mem_dest(&cinfo, &err.encoded, &err.encoded_size);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = components;
    cinfo.in_color_space = components == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality < 1 ? 1 : (quality > 100 ? 100 : quality), TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    size_t stride = (size_t)width * (size_t)components;
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * stride);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    *out = err.encoded;
    *out_size = (size_t)err.encoded_size;
    jpeg_destroy_compress(&cinfo);
    return GRAFT_JPEG_OK;
}

void graft_free(void *pointer) { free(pointer); }
