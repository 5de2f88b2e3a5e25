// OpenBLAS's CBLAS interface (Debian: libopenblas-dev, whose cblas.h also declares
// openblas_set_num_threads).
#include <cblas.h>
