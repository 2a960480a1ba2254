#include "graft_jpeg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

int graft_gunzip(const uint8_t *data, size_t size, uint8_t **out, size_t *out_size,
                 char *message, size_t message_capacity) {
    if (message != NULL && message_capacity > 0) message[0] = 0;
    if (out == NULL || out_size == NULL || (data == NULL && size > 0)) return Z_STREAM_ERROR;
    *out = NULL;
    *out_size = 0;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    /* 15 + 32: accept gzip or zlib headers. */
    int rc = inflateInit2(&zs, 15 + 32);
    if (rc != Z_OK) {
        snprintf(message, message_capacity, "inflateInit2 failed (%d)", rc);
        return rc;
    }
    size_t capacity = size < 1024 ? 4096 : size * 4;
    uint8_t *buffer = (uint8_t *)malloc(capacity);
    if (buffer == NULL) {
        inflateEnd(&zs);
        snprintf(message, message_capacity, "out of memory");
        return Z_MEM_ERROR;
    }
    size_t produced = 0, consumed = 0;
    for (;;) {
        if (produced == capacity) {
            size_t grown = capacity * 2;
            uint8_t *bigger = (uint8_t *)realloc(buffer, grown);
            if (bigger == NULL) {
                free(buffer);
                inflateEnd(&zs);
                snprintf(message, message_capacity, "out of memory");
                return Z_MEM_ERROR;
            }
            buffer = bigger;
            capacity = grown;
        }
        size_t in_chunk = size - consumed;
        if (in_chunk > 0x40000000u) in_chunk = 0x40000000u;
        size_t out_chunk = capacity - produced;
        if (out_chunk > 0x40000000u) out_chunk = 0x40000000u;
        zs.next_in = (Bytef *)(data + consumed);
        zs.avail_in = (uInt)in_chunk;
        zs.next_out = buffer + produced;
        zs.avail_out = (uInt)out_chunk;
        rc = inflate(&zs, Z_NO_FLUSH);
        consumed += in_chunk - zs.avail_in;
        produced += out_chunk - zs.avail_out;
        if (rc == Z_STREAM_END) break;
        if (rc == Z_BUF_ERROR && consumed == size && zs.avail_out != 0) {
            rc = Z_DATA_ERROR;
            snprintf(message, message_capacity, "compressed data ends early (%zu bytes in)", size);
            free(buffer);
            inflateEnd(&zs);
            return rc;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            snprintf(message, message_capacity, "inflate failed: %s", zs.msg ? zs.msg : "corrupt data");
            free(buffer);
            inflateEnd(&zs);
            return rc == Z_OK ? Z_DATA_ERROR : rc;
        }
    }
    inflateEnd(&zs);
    *out = buffer;
    *out_size = produced;
    return 0;
}
