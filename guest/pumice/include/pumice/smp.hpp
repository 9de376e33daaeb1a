// Secondary vCPUs: counted by probing VCPUOP_is_up, started with VCPUOP_initialise and
// VCPUOP_up on demand. Each runs its own scheduler and idle loop.
#pragma once

namespace pumice::smp {

// vCPUs the domain has (online or not).
unsigned count();
// vCPUs running Pumice.
unsigned online();
// Starts every secondary vCPU and waits for them; returns online().
unsigned start_all();
// The calling vCPU's id.
unsigned current_id();

void probe();

}  // namespace pumice::smp
