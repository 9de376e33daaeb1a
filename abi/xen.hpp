// The one place host code includes the Xen public ABI (Debian's libxen-dev). Those headers
// expect <stdint.h> first; including them through here keeps that order everywhere.
#pragma once

#include <stdint.h>

// Guests pick an interface version; the hypervisor side implements the newest these headers
// describe (it expands lazily, once xen-compat.h has defined the latest).
#ifndef __XEN_INTERFACE_VERSION__
#define __XEN_INTERFACE_VERSION__ __XEN_LATEST_INTERFACE_VERSION__
#endif

#include <xen/xen.h>

#include <xen/callback.h>
#include <xen/elfnote.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/io/console.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/hvm/hvm_op.h>
#include <xen/hvm/params.h>
