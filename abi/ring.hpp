// Xen's shared-ring macros (<xen/io/ring.h>) for the hypervisor's backends. ring.h leaves
// the memory barriers to its includer; the rings are shared with guests running on other
// CPUs, so they are real fences here. Include this before any <xen/io/*if.h>.
#pragma once

#include <atomic>

#include "abi/xen.hpp"

#ifndef xen_mb
#define xen_mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define xen_rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define xen_wmb() std::atomic_thread_fence(std::memory_order_release)
#endif

#include <xen/io/ring.h>
