// Xen's shared I/O rings (<xen/io/ring.h>) for Pumice's split-driver frontends.
//
// ring.h leaves the barriers to the includer when __XEN_INTERFACE_VERSION__ is recent (as
// Pumice's is): xen_mb() must order stores before later loads (the producer index before
// reading the peer's event index), xen_rmb()/xen_wmb() order loads/stores among
// themselves. On x86 (TSO) only the full barrier needs an instruction (mfence); the others
// are compiler barriers, which stop the compiler moving or caching ring accesses across them.
#pragma once

#include <pumice/string.hpp>  // ring.h's macros use memcpy/memset
#include <pumice/xen.hpp>

#ifndef xen_mb
#define xen_mb() __atomic_thread_fence(__ATOMIC_SEQ_CST)
#endif
#ifndef xen_rmb
#define xen_rmb() asm volatile("" ::: "memory")
#endif
#ifndef xen_wmb
#define xen_wmb() asm volatile("" ::: "memory")
#endif

#include <xen/io/ring.h>
