// The block interface's ABI for the backend: Xen's <xen/io/blkif.h> on its ring macros.
#pragma once

#include "abi/ring.hpp"

#include <xen/io/blkif.h>
