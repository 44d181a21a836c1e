#ifndef SAMU_CMALLOC_SHIM_H
#define SAMU_CMALLOC_SHIM_H
// glibc's allocator settings (mallopt): not in Swift's Glibc module.
#include <malloc.h>
#endif
