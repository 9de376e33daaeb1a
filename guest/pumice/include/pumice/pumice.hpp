// Pumice: the unikernel base. Include this one header in an app and define `int main()`;
// returning from main exits the domain with main's value.
#pragma once

#include <pumice/assert.hpp>
#include <pumice/cmdline.hpp>
#include <pumice/console.hpp>
#include <pumice/events.hpp>
#include <pumice/grant.hpp>
#include <pumice/hypercall.hpp>
#include <pumice/memory.hpp>
#include <pumice/print.hpp>
#include <pumice/smp.hpp>
#include <pumice/string.hpp>
#include <pumice/thread.hpp>
#include <pumice/time.hpp>
#include <pumice/waitqueue.hpp>
#include <pumice/xen.hpp>

namespace pumice {

start_info_t& xen_start_info();
shared_info_t& xen_shared_info();

// Records `code` as the exit status (XENOLITH_SCHEDOP_exit_status) and powers off.
[[noreturn]] void exit(int code);
// As exit(), with another SCHEDOP_shutdown reason (SHUTDOWN_reboot, ...).
[[noreturn]] void shutdown(unsigned reason, int code);

}  // namespace pumice
