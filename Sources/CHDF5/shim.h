#ifndef GRAFT_CHDF5_SHIM_H
#define GRAFT_CHDF5_SHIM_H
#include <hdf5.h>

/* Getters for HDF5 macros Swift cannot import: most expand to run-time globals after an
   implicit library initialisation (H5OPEN), the rest are casts. */

static inline hid_t graft_H5P_DEFAULT(void) { return H5P_DEFAULT; }
static inline hid_t graft_H5S_ALL(void) { return H5S_ALL; }
static inline hid_t graft_H5E_DEFAULT(void) { return H5E_DEFAULT; }
static inline unsigned graft_H5F_ACC_RDONLY(void) { return H5F_ACC_RDONLY; }
static inline unsigned graft_H5F_ACC_RDWR(void) { return H5F_ACC_RDWR; }
static inline unsigned graft_H5F_ACC_TRUNC(void) { return H5F_ACC_TRUNC; }
static inline size_t graft_H5T_VARIABLE(void) { return H5T_VARIABLE; }

static inline hid_t graft_H5T_NATIVE_FLOAT(void) { return H5T_NATIVE_FLOAT; }
static inline hid_t graft_H5T_NATIVE_DOUBLE(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t graft_H5T_NATIVE_INT64(void) { return H5T_NATIVE_INT64; }
static inline hid_t graft_H5T_IEEE_F32LE(void) { return H5T_IEEE_F32LE; }
static inline hid_t graft_H5T_IEEE_F64LE(void) { return H5T_IEEE_F64LE; }
static inline hid_t graft_H5T_STD_I64LE(void) { return H5T_STD_I64LE; }
static inline hid_t graft_H5T_C_S1(void) { return H5T_C_S1; }

/* File access properties for new files: the HDF5 1.8 format (superblock version 2, version-2
   object headers), whose metadata carries checksums, so a damaged file fails a checksum instead
   of sending the library through corrupt metadata. Readable by HDF5 1.8 and later (h5py too).
   Returns a property list to close with H5Pclose, or a negative id. */
static inline hid_t graft_checksummed_file_access(void) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0) return fapl;
    if (H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_V18) < 0) { H5Pclose(fapl); return -1; }
    return fapl;
}

/* Turns off HDF5's automatic printing of error stacks; failures are reported as Swift errors. */
static inline void graft_H5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
