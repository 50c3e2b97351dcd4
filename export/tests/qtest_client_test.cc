// Tests for export/qtest_client.h: the reply parser, and the client
// against fake QEMUs (shell scripts) that answer, die, hang or talk
// nonsense. None of them needs QEMU.
#include "export/qtest_client.h"

#include <gtest/gtest.h>

#include "export/tests/export_test_util.h"

namespace kvmrr {
namespace {

using namespace std::chrono_literals;
using testing::fake_qemu;
using testing::scratch_dir;

TEST(QtestReply, ParsesQemusReplies) {
    EXPECT_TRUE(parse_qtest_reply("OK").ok);
    EXPECT_FALSE(parse_qtest_reply("OK").value);
    QtestReply r = parse_qtest_reply("OK 0x00e9");
    EXPECT_TRUE(r.ok);
    EXPECT_EQ(r.value, 0xe9u);
    EXPECT_EQ(parse_qtest_reply("OK 0xffffffffffffffff").value, ~uint64_t{0});
    EXPECT_EQ(parse_qtest_reply("OK 1000").value, 1000u);  // clock_step: decimal ns
    r = parse_qtest_reply("FAIL Unknown command 'clock_step'");
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.text, "FAIL Unknown command 'clock_step'");
}

TEST(QtestReply, RefusesGarbage) {
    for (const char* bad : {"", "ok", "OKAY", "OK ", "OK 0x", "OK 0xzz", "OK 0x10000000000000000", "hello", "FAILED",
                            "OK -1", "\x01\x02"})
        EXPECT_THROW(parse_qtest_reply(bad), QtestError) << "'" << bad << "'";
}

class FakeQemu : public ::testing::Test {
protected:
    std::filesystem::path dir = scratch_dir("qtest-client");
    void TearDown() override { std::filesystem::remove_all(dir); }
    QemuCommand cmd(const std::string& body, std::chrono::milliseconds timeout = 5000ms) {
        return {fake_qemu(dir, "qemu", body), {}, timeout};
    }
};

TEST_F(FakeQemu, ConversesLineByLineAndSkipsIrqNotes) {
    QtestClient c(cmd(R"(while read cmd a b; do
  case "$cmd" in
    inb) echo "IRQ raise 4"; echo "OK 0x0042";;
    *) echo OK;;
  esac
done)"));
    EXPECT_TRUE(c.send("outb 0x70 0x0").ok);
    const QtestReply r = c.send("inb 0x71");
    EXPECT_EQ(r.value, 0x42u);
    EXPECT_EQ(c.commands_sent(), 2u);
    EXPECT_EQ(c.last_command(), "inb 0x71");
    c.stop();
    EXPECT_THROW(c.send("inb 0x71"), QtestError);
}

TEST_F(FakeQemu, ADyingQemuIsAnErrorNamingTheLastCommand) {
    QtestClient c(cmd("read line; echo 'something broke' >&2; exit 3"));
    try {
        c.send("inb 0x60");
        FAIL() << "no error";
    } catch (const QtestError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("died"), std::string::npos) << m;
        EXPECT_NE(m.find("'inb 0x60'"), std::string::npos) << m;
        EXPECT_NE(m.find("something broke"), std::string::npos) << m;
    }
}

TEST_F(FakeQemu, ASilentQemuTimesOut) {
    QtestClient c(cmd("exec sleep 30", 300ms));
    const auto t0 = std::chrono::steady_clock::now();
    try {
        c.send("inb 0x64");
        FAIL() << "no error";
    } catch (const QtestError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("did not answer within 300 ms"), std::string::npos) << m;
        EXPECT_NE(m.find("'inb 0x64'"), std::string::npos) << m;
    }
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(FakeQemu, GarbageIsAnErrorNamingTheLastCommand) {
    QtestClient c(cmd("read line; echo 'Welcome to not-QEMU'; sleep 30"));
    try {
        c.send("readl 0xfec00010");
        FAIL() << "no error";
    } catch (const QtestError& e) {
        const std::string m = e.what();
        EXPECT_NE(m.find("garbage"), std::string::npos) << m;
        EXPECT_NE(m.find("Welcome to not-QEMU"), std::string::npos) << m;
        EXPECT_NE(m.find("'readl 0xfec00010'"), std::string::npos) << m;
    }
}

TEST_F(FakeQemu, AnEndlessLineIsGarbageNotAnAllocation) {
    QtestClient c(cmd("read line; yes | tr -d '\\n'"));
    EXPECT_THROW(c.send("inb 0x60"), QtestError);
}

TEST_F(FakeQemu, AMissingBinarySaysWhatToInstall) {
    try {
        QtestClient c({(dir / "no-such-qemu").string(), {}, 1000ms});
        FAIL() << "no error";
    } catch (const QtestError& e) {
        EXPECT_NE(std::string(e.what()).find("qemu-system-x86"), std::string::npos) << e.what();
    }
}

TEST(QemuBinary, OptionThenEnvironmentThenPath) {
    EXPECT_EQ(qemu_binary("/x/qemu"), "/x/qemu");
    setenv("KVMRR_QEMU", "/y/qemu", 1);
    EXPECT_EQ(qemu_binary(""), "/y/qemu");
    unsetenv("KVMRR_QEMU");
    EXPECT_EQ(qemu_binary(""), "qemu-system-x86_64");
}

}  // namespace
}  // namespace kvmrr
