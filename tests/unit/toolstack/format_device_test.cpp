// `xn block-list` and `xn network-list` print xl's text. The expected strings are xl's
// output as published (xen-devel and tutorial transcripts of `xl block-list` and
// `xl network-list`), with the trailing blanks xl's %-30s adds to short paths.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "toolstack/format/device_text.hpp"

namespace xenolith::format {
namespace {

TEST(BlockListText, HeaderAlone) {
    EXPECT_EQ(block_list_text({}),
              "Vdev  BE  handle state evt-ch ring-ref BE-path                       \n");
}

TEST(BlockListText, RowsAsXlPrintsThem) {
    const std::vector<DiskInfo> disks{
        {51712, 0, 241, 4, -1, -1, "/local/domain/0/backend/vbd/241/51712"},
        {51840, 3, 241, 3, -1, -1, "/local/domain/3/backend/vbd/241/51840"},
        {51712, 0, 10, 4, 13, 8, "/local/domain/0/backend/vbd/10/51712"},
        {51728, 0, 7, 1, 5, 1281, "/be/short"},
    };
    EXPECT_EQ(block_list_text(disks),
              "Vdev  BE  handle state evt-ch ring-ref BE-path                       \n"
              "51712 0   241    4     -1     -1       /local/domain/0/backend/vbd/241/51712\n"
              "51840 3   241    3     -1     -1       /local/domain/3/backend/vbd/241/51840\n"
              "51712 0   10     4     13     8        /local/domain/0/backend/vbd/10/51712\n"
              "51728 0   7      1     5      1281     /be/short                     \n");
}

TEST(BlockListText, ExtendedDevidsWidenTheirColumnAsXlDoes) {
    const std::vector<DiskInfo> disks{{(1u << 28) | (16 << 8), 0, 1, 4, 9, 10, "/p"}};
    EXPECT_EQ(block_list_text(disks).substr(70),
              "268439552 0   1      4     9      10       /p                            \n");
}

TEST(NetworkListText, HeaderAlone) {
    EXPECT_EQ(network_list_text({}),
              "Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path            "
              "           \n");
}

TEST(NetworkListText, RowsAsXlPrintsThem) {
    const std::vector<NicInfo> nics{
        {0,
         0,
         {0x00, 0x16, 0x3e, 0x12, 0xab, 0x37},
         4,
         14,
         768,
         769,
         "/local/domain/0/backend/vif/10/0"},
        {1,
         0,
         {0x00, 0x16, 0x3e, 0x47, 0x7a, 0xdd},
         4,
         15,
         1280,
         1281,
         "/local/domain/0/backend/vif/10/1"},
        {2,
         0,
         {0x00, 0x16, 0x3e, 0x00, 0x00, 0x02},
         2,
         -1,
         -1,
         -1,
         "/local/domain/0/backend/vif/10/2"},
    };
    EXPECT_EQ(network_list_text(nics),
              "Idx BE Mac Addr.         handle state evt-ch   tx-/rx-ring-ref BE-path            "
              "           \n"
              "0   0  00:16:3e:12:ab:37     0     4     14   768/769         "
              "/local/domain/0/backend/vif/10/0\n"
              "1   0  00:16:3e:47:7a:dd     1     4     15  1280/1281        "
              "/local/domain/0/backend/vif/10/1\n"
              "2   0  00:16:3e:00:00:02     2     2     -1    -1/-1          "
              "/local/domain/0/backend/vif/10/2\n");
}

}  // namespace
}  // namespace xenolith::format
