#ifndef GRAFT_JPEG_H
#define GRAFT_JPEG_H
/* Placeholder; the JPEG shim lives here. */
int graft_jpeg_placeholder(void);
#endif
