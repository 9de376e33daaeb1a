// `xn info`: the host as Xenolith sees it, in the layout of `xl info`.
#pragma once

namespace xenolith::xn {

int info_command();

}  // namespace xenolith::xn
