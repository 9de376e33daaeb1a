// The gdb server against a fake target over a socketpair: every request it supports, the
// run control mapping onto the Target, Ctrl-C, the ends of a session, and hostile input.
#include "vmi/gdb/gdb_server.hpp"

#include <gtest/gtest.h>

#include "tests/unit/vmi/fake_target.hpp"
#include "tests/unit/vmi/scripted_gdb.hpp"
#include "vmi/gdb/hex.hpp"
#include "vmi/gdb/registers.hpp"

namespace xenolith::vmi::gdb {
namespace {

using testing::FakeTarget;
using testing::ScriptedGdb;

// A 64-bit value as the g and p packets carry it: little-endian hex.
std::string le64(uint64_t v) {
    std::string out;
    for (int i = 0; i < 8; ++i) append_hex_byte(out, static_cast<uint8_t>(v >> (8 * i)));
    return out;
}

class GdbServerTest : public ::testing::Test {
  protected:
    FakeTarget target;
    ScriptedGdb gdb{target};
};

TEST_F(GdbServerTest, AcknowledgesThenReportsTheInitialStop) {
    EXPECT_EQ(gdb.request("?"), "T05thread:1;");
}

TEST_F(GdbServerTest, NaksABadChecksumAndResendsOnNak) {
    gdb.send_raw("$?#00");
    EXPECT_EQ(gdb.read_byte(), '-');
    EXPECT_EQ(gdb.request("qAttached"), "1");
    gdb.send_raw("-");  // "say that again"
    EXPECT_EQ(gdb.reply(), "1");
}

TEST_F(GdbServerTest, ResendsOnlyAFewTimes) {
    EXPECT_EQ(gdb.request("qAttached"), "1");
    gdb.send_raw("----------");
    for (int i = 0; i < 3; ++i) EXPECT_EQ(gdb.reply(), "1");
    EXPECT_EQ(gdb.reply(200), "<none>");
}

TEST_F(GdbServerTest, StopsAcknowledgingAfterNoAckMode) {
    EXPECT_EQ(gdb.request("QStartNoAckMode"), "OK");
    gdb.acks = false;
    gdb.send_raw(frame_packet("qAttached"));
    EXPECT_EQ(gdb.read_byte(), '$');  // the reply, no '+' before it
    for (char c : std::string("1#31")) EXPECT_EQ(gdb.read_byte(), c);
    // Without acks a bad checksum still gets an answer, so gdb does not wait forever.
    gdb.send_raw("$?#00");
    EXPECT_EQ(gdb.reply(), "E01");
}

TEST_F(GdbServerTest, AdvertisesItsFeatures) {
    std::string reply = gdb.request("qSupported:multiprocess+;swbreak+;hwbreak+;vContSupported+");
    EXPECT_NE(reply.find("PacketSize=10000"), std::string::npos) << reply;
    for (const char* f :
         {"qXfer:features:read+", "QStartNoAckMode+", "vContSupported+", "swbreak+"})
        EXPECT_NE(reply.find(f), std::string::npos) << f;
    EXPECT_EQ(reply.find("multiprocess"), std::string::npos);
}

TEST_F(GdbServerTest, ServesTheTargetDescriptionInPieces) {
    std::string xml;
    for (int i = 0; i < 100; ++i) {
        std::string chunk = gdb.request("qXfer:features:read:target.xml:" + [&] {
            std::string range;
            append_hex_number(range, xml.size());
            return range + ",100";
        }());
        ASSERT_FALSE(chunk.empty());
        ASSERT_TRUE(chunk[0] == 'm' || chunk[0] == 'l') << chunk;
        xml += chunk.substr(1);  // the description has nothing that needs escaping
        if (chunk[0] == 'l') break;
    }
    EXPECT_EQ(xml, target_xml());
    EXPECT_NE(xml.find("<architecture>i386:x86-64</architecture>"), std::string::npos);
    EXPECT_EQ(gdb.request("qXfer:features:read:other.xml:0,100"), "E03");
    EXPECT_EQ(gdb.request("qXfer:features:read:target.xml:ffffff,100"), "E01");
}

TEST_F(GdbServerTest, ReadsAllRegistersInTargetDescriptionOrder) {
    std::string g = gdb.request("g");
    // 16 GPRs and rip (8 bytes), eflags and 6 selectors (4), 8 x87 stack (10), 8 x87 control
    // (4), fs_base and gs_base (8).
    ASSERT_EQ(g.size(), 2u * (17 * 8 + 7 * 4 + 8 * 10 + 8 * 4 + 2 * 8));
    EXPECT_EQ(g.substr(0, 16), le64(target.regs[1].rax));
    EXPECT_EQ(g.substr(16 * 16, 16), le64(FakeTarget::kImageBase + 0x10));  // rip
    EXPECT_EQ(g.substr(17 * 16, 8), "46020000");                            // eflags
    EXPECT_EQ(g.substr(17 * 16 + 8, 8), "10000000");                        // cs
    EXPECT_EQ(g.substr(17 * 16 + 7 * 8, 20), std::string(20, 'x'));         // st0
    EXPECT_EQ(g.substr(g.size() - 32, 16), le64(target.regs[1].fs_base));
}

TEST_F(GdbServerTest, WritesAllRegisters) {
    std::string g = gdb.request("g");
    g.replace(8 * 2, 16, le64(0xabcdef));  // rbx
    EXPECT_EQ(gdb.request("G" + g), "OK");
    EXPECT_EQ(target.regs[1].rbx, 0xabcdefu);
    EXPECT_EQ(gdb.request("G" + g.substr(2)), "E01");  // one byte short
    EXPECT_EQ(gdb.request("G" + std::string(g.size(), 'q')), "E01");
    target.refuse_register_writes = true;
    EXPECT_EQ(gdb.request("G" + g), "E03");
}

TEST_F(GdbServerTest, ReadsAndWritesOneRegister) {
    EXPECT_EQ(gdb.request("p10"), le64(FakeTarget::kImageBase + 0x10));  // rip
    EXPECT_EQ(gdb.request("p11"), "46020000");                           // eflags
    EXPECT_EQ(gdb.request("p18"), std::string(20, 'x'));                 // st0: unavailable
    EXPECT_EQ(gdb.request("p29"), le64(target.regs[1].gs_base));         // gs_base, 41
    EXPECT_EQ(gdb.request("p2a"), "E01");
    EXPECT_EQ(gdb.request("P10=" + le64(0x402000)), "OK");
    EXPECT_EQ(target.regs[1].rip, 0x402000u);
    EXPECT_EQ(gdb.request("P11=47020000"), "OK");
    EXPECT_EQ(target.regs[1].eflags, 0x247u);
    EXPECT_EQ(gdb.request("P18=" + std::string(20, '0')), "E03");  // not writable
    EXPECT_EQ(gdb.request("P10=1234"), "E03");                     // wrong size
    EXPECT_EQ(gdb.request("P10"), "E01");
}

TEST_F(GdbServerTest, ReadsMemoryUpToTheFirstUnmappedByte) {
    EXPECT_EQ(gdb.request("m401000,4"), "030a1118");
    EXPECT_EQ(gdb.request("m402ffe,10"), "f5fc");  // the image ends after two bytes
    EXPECT_EQ(gdb.request("m1000,4"), "E03");
    EXPECT_EQ(gdb.request("m401000,0"), "");
    EXPECT_EQ(gdb.request("m401000,100000"), "E01");       // over the transfer cap
    EXPECT_EQ(gdb.request("mffffffffffffffff,2"), "E01");  // wraps
    EXPECT_EQ(gdb.request("m40100g,4"), "E01");
    EXPECT_EQ(gdb.request("m401000"), "E01");
}

TEST_F(GdbServerTest, WritesMemoryInHexAndBinary) {
    EXPECT_EQ(gdb.request("M401010,3:aabbcc"), "OK");
    EXPECT_EQ(gdb.request("m401010,3"), "aabbcc");
    EXPECT_EQ(gdb.request("M401010,3:aabb"), "E01");
    EXPECT_EQ(gdb.request("M401010,1:zz"), "E01");
    EXPECT_EQ(gdb.request("M1000,1:00"), "E03");
    EXPECT_EQ(gdb.request("M402fff,2:0102"), "E03");  // only half of it is mapped

    std::string x = "X401020,5:";
    append_escaped(x, std::vector<uint8_t>{'#', '$', '}', '*', 0x03});
    EXPECT_EQ(gdb.request(x), "OK");
    EXPECT_EQ(gdb.request("m401020,5"), "23247d2a03");
    EXPECT_EQ(gdb.request("X401020,0:"), "OK");  // gdb's probe for X
    EXPECT_EQ(gdb.request("X401020,2:a"), "E01");
    EXPECT_EQ(gdb.request("X401020,1:}"), "E01");
}

TEST_F(GdbServerTest, ThreadsAreListedSelectedAndChecked) {
    EXPECT_EQ(gdb.request("qfThreadInfo"), "m1,2");
    EXPECT_EQ(gdb.request("qsThreadInfo"), "l");
    EXPECT_EQ(gdb.request("qC"), "QC1");
    EXPECT_EQ(gdb.request("T2"), "OK");
    EXPECT_EQ(gdb.request("T3"), "E02");
    EXPECT_EQ(gdb.request("Hg2"), "OK");
    EXPECT_EQ(gdb.request("qC"), "QC2");
    EXPECT_EQ(gdb.request("p10"), le64(FakeTarget::kImageBase + 0x20));  // thread 2's rip
    EXPECT_EQ(gdb.request("m401000,1"), "03");
    EXPECT_EQ(target.last_memory_thread, 2u);
    EXPECT_EQ(gdb.request("Hg9"), "E02");
    EXPECT_EQ(gdb.request("Hgx"), "E01");
    EXPECT_EQ(gdb.request("Hq1"), "E01");
    EXPECT_EQ(gdb.request("Hg0"), "OK");  // any: the thread that last stopped
    EXPECT_EQ(gdb.request("qC"), "QC1");
    EXPECT_EQ(gdb.request("Hc-1"), "OK");
}

TEST_F(GdbServerTest, BreakpointsGoToTheTarget) {
    EXPECT_EQ(gdb.request("Z0,401040,1"), "OK");
    EXPECT_TRUE(target.sw_breakpoints.count(0x401040));
    EXPECT_EQ(gdb.request("z0,401040,1"), "OK");
    EXPECT_TRUE(target.sw_breakpoints.empty());
    EXPECT_EQ(gdb.request("z0,401040,1"), "E03");  // not there
    EXPECT_EQ(gdb.request("Z1,401040,1"), "");     // no hardware breakpoints here
    EXPECT_EQ(gdb.request("Z2,401040,8"), "");     // watchpoints: not supported
    EXPECT_EQ(gdb.request("Z0,40104x,1"), "E01");
    EXPECT_EQ(gdb.request("Z0,401040"), "E01");
    target.refuse_breakpoints = true;
    EXPECT_EQ(gdb.request("Z0,401050,1"), "E03");
    target.hw_supported = true;
    EXPECT_EQ(gdb.request("Z1,401060,1"), "OK");
    EXPECT_TRUE(target.hw_breakpoints.count(0x401060));
    EXPECT_EQ(gdb.request("z1,401060,1"), "OK");
}

TEST_F(GdbServerTest, VContMapsActionsLeftmostFirst) {
    EXPECT_EQ(gdb.request("vCont?"), "vCont;c;C;s;S");
    EXPECT_EQ(gdb.request("vCont;s:2;c"), "T05thread:2;");
    EXPECT_EQ(target.log.back(), "resume s:2 c:0");
    EXPECT_EQ(target.regs[2].rip, FakeTarget::kImageBase + 0x21);
    EXPECT_EQ(gdb.request("qC"), "QC2");  // the stopped thread is current now
    EXPECT_EQ(gdb.request("vCont;S05:1;s:1;c:-1;s:2"), "T05thread:1;");
    EXPECT_EQ(target.log.back(), "resume s:1 c:0");  // s:1 repeats, s:2 comes after the default
    EXPECT_EQ(gdb.request("vCont;s:3"), "E02");
    EXPECT_EQ(gdb.request("vCont;t"), "E01");
    EXPECT_EQ(gdb.request("vCont;r401000,401010:1"), "E01");
    EXPECT_EQ(gdb.request("vCont;"), "E01");
    EXPECT_EQ(gdb.request("vCont;c:0"), "E01");
    EXPECT_EQ(gdb.request("vCont;Cxx"), "E01");
}

TEST_F(GdbServerTest, ContinueRunsToABreakpointAndSaysSo) {
    EXPECT_EQ(gdb.request("Z0,401040,1"), "OK");
    EXPECT_EQ(gdb.request("vCont;c"), "T05thread:1;swbreak:;");
    EXPECT_EQ(target.regs[1].rip, 0x401040u);
}

TEST_F(GdbServerTest, LegacyContinueAndStepFollowHc) {
    EXPECT_EQ(gdb.request("s"), "T05thread:1;");
    EXPECT_EQ(target.log.back(), "resume s:1");
    EXPECT_EQ(gdb.request("Hc2"), "OK");
    EXPECT_EQ(gdb.request("s"), "T05thread:2;");
    EXPECT_EQ(target.log.back(), "resume s:2");
    EXPECT_EQ(gdb.request("S05;401100"), "T05thread:2;");  // step from a new address
    EXPECT_EQ(target.regs[2].rip, 0x401101u);
    EXPECT_EQ(gdb.request("Hc0"), "OK");
    EXPECT_EQ(gdb.request("Z0,401200,1"), "OK");
    EXPECT_EQ(gdb.request("c"), "T05thread:1;swbreak:;");
    EXPECT_EQ(target.log.back(), "resume c:0");
    EXPECT_EQ(gdb.request("c40100g"), "E01");
    EXPECT_EQ(gdb.request("Cxx"), "E01");
}

TEST_F(GdbServerTest, CtrlCStopsARunningTarget) {
    target.scripted_stops.clear();
    gdb.send_raw(frame_packet("vCont;c"));
    EXPECT_EQ(gdb.read_byte(), '+');
    // Nothing comes back while the target runs; a stray packet meanwhile is dropped.
    EXPECT_EQ(gdb.reply(100), "<none>");
    gdb.send_raw(frame_packet("qC"));
    EXPECT_EQ(gdb.reply(100), "<none>");
    gdb.send_raw("\x03");
    EXPECT_EQ(gdb.reply(), "T02thread:1;");
    EXPECT_TRUE(target.logged("interrupted"));
    EXPECT_EQ(gdb.request("qC"), "QC1");  // and the session goes on
}

TEST_F(GdbServerTest, ACtrlCRightBehindTheResumeCounts) {
    gdb.send_raw(frame_packet("vCont;c") + "\x03");
    EXPECT_EQ(gdb.read_byte(), '+');
    EXPECT_EQ(gdb.reply(), "T02thread:1;");
}

TEST_F(GdbServerTest, ACtrlCWhileStoppedIsIgnored) {
    gdb.send_raw("\x03");
    EXPECT_EQ(gdb.request("?"), "T05thread:1;");
}

TEST_F(GdbServerTest, DetachRemovesBreakpointsAndEnds) {
    EXPECT_EQ(gdb.request("Z0,401040,1"), "OK");
    EXPECT_EQ(gdb.request("D"), "OK");
    EXPECT_EQ(gdb.finish(), GdbServer::End::Detached);
    EXPECT_TRUE(target.logged("detach"));
    EXPECT_TRUE(target.sw_breakpoints.empty());
}

TEST_F(GdbServerTest, KillEndsWithoutAReply) {
    gdb.send_raw(frame_packet("k"));
    EXPECT_EQ(gdb.read_byte(), '+');
    EXPECT_EQ(gdb.finish(), GdbServer::End::Killed);
    EXPECT_TRUE(target.logged("kill"));
    EXPECT_FALSE(target.logged("detach"));
}

TEST_F(GdbServerTest, ATargetThatExitsEndsTheSession) {
    target.scripted_stops.push_back(StopReason{StopReason::Kind::Exited, 0, 1, 3});
    EXPECT_EQ(gdb.request("c"), "W03");
    EXPECT_EQ(gdb.finish(), GdbServer::End::TargetExited);
}

TEST_F(GdbServerTest, ADestroyedTargetIsReportedKilled) {
    target.scripted_stops.push_back(StopReason{StopReason::Kind::Killed});
    EXPECT_EQ(gdb.request("vCont;c"), "X09");
    EXPECT_EQ(gdb.finish(), GdbServer::End::TargetExited);
}

TEST_F(GdbServerTest, AVanishedGdbDetachesAStoppedTarget) {
    EXPECT_EQ(gdb.request("Z0,401040,1"), "OK");
    EXPECT_EQ(gdb.hang_up(), GdbServer::End::Disconnected);
    EXPECT_TRUE(target.logged("detach"));
    EXPECT_TRUE(target.sw_breakpoints.empty());
}

TEST_F(GdbServerTest, AVanishedGdbStopsTheWaitAndDetaches) {
    gdb.send_raw(frame_packet("vCont;c"));
    EXPECT_EQ(gdb.read_byte(), '+');
    EXPECT_EQ(gdb.reply(50), "<none>");
    EXPECT_EQ(gdb.hang_up(), GdbServer::End::Disconnected);
    EXPECT_TRUE(target.logged("interrupted"));
    EXPECT_EQ(target.log.back(), "detach");
}

TEST_F(GdbServerTest, UnknownAndEmptyRequestsGetEmptyReplies) {
    for (const char* p :
         {"", "vMustReplyEmpty", "qTStatus", "QNonStop:1", "!", "vKill;1", "\x7f", "qSymbol::"})
        EXPECT_EQ(gdb.request(p), "") << p;
}

TEST_F(GdbServerTest, SurvivesNoiseAndOverlongPackets) {
    gdb.send_raw("garbage\r\n+++");
    gdb.send_raw(frame_packet(std::string(kMaxPayload + 1, 'm')));
    EXPECT_EQ(gdb.read_byte(), '-');
    EXPECT_EQ(gdb.request("m401000,1"), "03");
    // Transfers are capped below what a packet can carry; the cap itself is allowed.
    ASSERT_EQ(kMaxMemoryTransfer, 0x7ff0u);
    EXPECT_EQ(gdb.request("M401000,7ff1:" + std::string(2 * 0x7ff1, '0')), "E01");
    EXPECT_EQ(gdb.request("m401000,7ff0").size(), 2u * FakeTarget::kImageSize);
}

}  // namespace
}  // namespace xenolith::vmi::gdb
