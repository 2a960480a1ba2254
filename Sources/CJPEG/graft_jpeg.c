#include "graft_jpeg.h"
int graft_jpeg_placeholder(void) { return 0; }
