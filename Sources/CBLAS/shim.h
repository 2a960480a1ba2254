#ifndef GRAFT_CBLAS_SHIM_H
#define GRAFT_CBLAS_SHIM_H
#include <cblas.h>
/* OpenBLAS extensions: thread control, so Graft can avoid oversubscribing the cores. */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
#endif
