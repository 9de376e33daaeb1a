// The network interface's ABI (Xen's <xen/io/netif.h> and its <xen/io/ring.h> macros) for
// the backend. ring.h leaves the memory barriers to its includer; the rings are shared with
// a guest running on other CPUs, so they are real fences here.
#pragma once

#include <atomic>

#include "abi/xen.hpp"

#ifndef xen_mb
#define xen_mb() std::atomic_thread_fence(std::memory_order_seq_cst)
#define xen_rmb() std::atomic_thread_fence(std::memory_order_acquire)
#define xen_wmb() std::atomic_thread_fence(std::memory_order_release)
#endif

#include <xen/io/netif.h>
#include <xen/io/ring.h>
