// The network interface's ABI for the backend: Xen's <xen/io/netif.h> on its ring macros.
#pragma once

#include "abi/ring.hpp"

#include <xen/io/netif.h>
