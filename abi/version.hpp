// Which Xen the guests see: Xenolith follows the public ABI of Xen 4.17 (Debian 12's
// libxen-dev). One definition for XENVER_* answers and `xn info`.
#pragma once

namespace xenolith::abi {

inline constexpr long kXenMajor = 4;
inline constexpr long kXenMinor = 17;
inline constexpr const char* kXenExtraVersion = "-xenolith";
inline constexpr const char* kXenCapabilities = "xen-3.0-x86_64";

}  // namespace xenolith::abi
