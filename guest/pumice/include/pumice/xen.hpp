// The Xen public ABI, from Debian's libxen-dev: every Xen type and constant Pumice uses
// comes from here, never re-typed. The headers expect <stdint.h> first.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <xen/callback.h>
#include <xen/elfnote.h>
#include <xen/errno.h>
#include <xen/event_channel.h>
#include <xen/features.h>
#include <xen/grant_table.h>
#include <xen/memory.h>
#include <xen/sched.h>
#include <xen/vcpu.h>
#include <xen/version.h>
#include <xen/xen.h>

#include <abi/xenolith.h>
