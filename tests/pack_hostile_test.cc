// A pack from elsewhere is hostile: each test crafts one (index rows
// rewritten, every checksum and the identity recomputed, so only the
// reader's own validation stands in the way) or a hostile target directory,
// and checks that no front end serves, lists or writes anything it should
// not. One test per defect of the hostile-pack issue; the index flipped
// under a live mount is FsSwitch.FlippedIndexBytesUnderALiveMountNeverServeWrongBytes.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <string>

#include "index/entry.h"
#include "index/error.h"
#include "index/pack_reader.h"
#include "index/write/pack_writer.h"
#include "index/time_ns.h"
#include "tests/support/mount_fixture.h"
#include "tests/support/pack_surgery.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using namespace kso::test;


uint64_t ino_of(const fs::path& pack, const std::string& path) { return Pack::open(pack)->lookup_path(path)->ino; }

// Renames root entry `from` to `to` in the index even when `to` exists: the
// UNIQUE key is only as good as the schema text, so build the table with a
// wider key, fill it, then give it the schema the format expects.
void duplicate_root_name(const fs::path& pack, const std::string& from, const std::string& to) {
  rewrite_index(pack,
                "CREATE TABLE d2(parent INTEGER NOT NULL, name BLOB NOT NULL, ino INTEGER NOT NULL,"
                " PRIMARY KEY(parent, name, ino)) WITHOUT ROWID;"
                "INSERT INTO d2 SELECT * FROM dirents;"
                "UPDATE d2 SET name = CAST('" + to + "' AS BLOB) WHERE parent = 1 AND name = CAST('" + from +
                    "' AS BLOB);"
                "UPDATE sqlite_schema SET rowid = -rowid WHERE name = 'dirents';"
                "UPDATE sqlite_schema SET rowid = (SELECT -rowid FROM sqlite_schema WHERE name = 'dirents'),"
                " name = 'dirents', tbl_name = 'dirents',"
                " sql = (SELECT sql FROM sqlite_schema WHERE name = 'dirents') WHERE name = 'd2';"
                "DELETE FROM sqlite_schema WHERE rowid < 0;");
}

struct HostileDir {
  TempDir tmp{"kso-hostile"};
  fs::path src = tmp / "src", pack = tmp / "p.kso", out = tmp / "out", outside = tmp / "outside";
};

// The error a full walk of the tree (what extract, verify and ls -R do) meets.
std::string walk_error(const fs::path& p) {
  try {
    pack_listing(*Pack::open(p));
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

// Defect 1: two root entries named `a`, the first a symlink to a directory
// outside DIR, the second a directory holding a setuid `evil`. Refused as
// soon as the directory is listed; extract writes nothing anywhere (its
// pre-flight walk lists everything first); the mount answers EIO.
TEST(PackHostile, DuplicateNamesAreRefused) {
  for (std::string target : {"", "../outside"}) {
    HostileDir h;
    SCOPED_TRACE(target.empty() ? "absolute target" : target);
    if (target.empty()) target = h.outside.string();
    fs::create_directories(h.outside);
    chmod(h.outside.c_str(), 0700);
    write_file(h.src / "a" / "evil", "#!/bin/sh\n");
    chmod((h.src / "a" / "evil").c_str(), 04755);
    ASSERT_EQ(symlink(target.c_str(), (h.src / "0link").c_str()), 0);  // sorts before "a"
    WriterOptions o = small_writer_options();
    o.allow_escaping_symlinks = true;
    build_pack(h.pack, {{".", h.src}}, o);
    duplicate_root_name(h.pack, "0link", "a");
    std::string err = walk_error(h.pack);
    EXPECT_NE(err.find("duplicate name 'a' in directory '/'"), std::string::npos) << err;
    auto r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_TRUE(fs::is_empty(h.outside));
    struct stat st {};
    ASSERT_EQ(stat(h.outside.c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 07777, 0700u);
    r = kso_pack_words("verify " + h.pack.string());
    EXPECT_EQ(r.status, 1);
    EXPECT_NE(r.output.find("duplicate name 'a'"), std::string::npos) << r.output;
    if (fuse_unavailable_reason().empty()) {
      Mount m(h.pack, h.tmp / "mnt", {"", {}, false});
      r = run("ls " + q(m.path()));
      EXPECT_NE(r.status, 0) << r.output;
      EXPECT_NE(r.output.find("Input/output error"), std::string::npos) << r.output;
      EXPECT_NE(m.log().find("duplicate name 'a'"), std::string::npos) << m.log();
    }
  }
}

// Defect 2: a symlink already in DIR is never followed.
TEST(PackHostile, ExtractNeverFollowsSymlinksInTheTarget) {
  HostileDir h;
  write_file(h.src / "misc" / "file", "data\n");
  write_file(h.src / "top", "top\n");
  build_pack(h.pack, {{".", h.src}});
  fs::create_directories(h.outside);
  fs::create_directories(h.out);
  ASSERT_EQ(symlink(h.outside.c_str(), (h.out / "misc").c_str()), 0);
  auto r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("misc exists and is not a directory (a symlink is never followed)"), std::string::npos)
      << r.output;
  EXPECT_TRUE(fs::is_empty(h.outside));
  // A symlink where a file goes is replaced, not written through.
  fs::remove(h.out / "misc");
  write_file(h.tmp / "victim", "precious\n");
  ASSERT_EQ(symlink((h.tmp / "victim").c_str(), (h.out / "top").c_str()), 0);
  r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(read_file(h.tmp / "victim"), "precious\n");
  EXPECT_FALSE(fs::is_symlink(h.out / "top"));
  EXPECT_EQ(read_file(h.out / "top"), "top\n");
  EXPECT_EQ(read_file(h.out / "misc" / "file"), "data\n");
}

// Defect 3: DIR keeps its own mode (and gets no mtime from the pack).
TEST(PackHostile, ExtractLeavesTheTargetDirectoryAlone) {
  HostileDir h;
  write_file(h.src / "f", "f\n");
  WriterOptions o = small_writer_options();
  o.created_unix = 1000000000;  // the pack root's mtime: 2001
  build_pack(h.pack, {{".", h.src}}, o);
  fs::create_directories(h.out);
  chmod(h.out.c_str(), 0711);
  set_mtime_ns(h.out, 1000 * kNsPerSec);
  auto r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st {};
  ASSERT_EQ(stat(h.out.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0711u);
  EXPECT_NE(st.st_mtim.tv_sec, Pack::open(h.pack)->stat(kRootIno)->mtime_ns / kNsPerSec);
}

// Defect 4: a damaged file is not left under its name, and the others still come out.
TEST(PackHostile, DamagedFileIsSkippedAndTheRestExtracted) {
  HostileDir h;
  // Different streams (text, and gzip-like bytes), so different blocks.
  std::string text;
  for (int i = 0; text.size() < 200000; i++) text += "line " + std::to_string(i) + "\n";
  const std::string bad = "\x1f\x8b" + random_bytes(300000, 2);
  write_file(h.src / "a_good", text);
  write_file(h.src / "b_bad", bad);
  write_file(h.src / "c_good", "c\n");
  build_pack(h.pack, {{".", h.src}});
  {
    auto pk = Pack::open(h.pack);
    auto f = pk->layout(pack_stat(*pk, "b_bad").ino);
    uint32_t b = f->chunks.back().block;
    for (auto name : {"a_good", "c_good"})
      for (auto& c : pk->layout(pack_stat(*pk, name).ino)->chunks) ASSERT_NE(c.block, b) << "test needs separate blocks";
    xor_byte(h.pack, pk->block_entry(b).offset + 7, 0x10);
  }
  auto r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("skipped b_bad"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(h.out / "b_bad"));
  EXPECT_EQ(read_file(h.out / "a_good"), text);
  EXPECT_EQ(read_file(h.out / "c_good"), "c\n");
  for (auto& e : fs::directory_iterator(h.out))
    EXPECT_EQ(e.path().filename().string().find(".kso-extract-"), std::string::npos) << "temp file left behind";
}

// Defect 5: a directory cycle is refused where it is listed, so ls -R,
// verify and extract end at once instead of looping or nesting.
TEST(PackHostile, DirectoryCyclesAreRefused) {
  HostileDir h;
  write_file(h.src / "x" / "y" / "z" / "f", "f\n");
  build_pack(h.pack, {{".", h.src}});
  const uint64_t x = ino_of(h.pack, "x"), z = ino_of(h.pack, "x/y/z");
  rewrite_index(h.pack, "INSERT INTO dirents VALUES(" + std::to_string(z) + ", CAST('loop' AS BLOB), " +
                            std::to_string(x) + ")");
  EXPECT_NE(walk_error(h.pack).find("directory 'loop' in directory 'x/y/z' would make a cycle"), std::string::npos)
      << walk_error(h.pack);
  for (std::string cmd : {"ls -R", "verify", "extract"}) {
    auto r = kso_pack_words(cmd + " " + h.pack.string() + (cmd == "extract" ? " " + h.out.string() : ""));
    EXPECT_EQ(r.status, 1) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("cycle"), std::string::npos) << cmd << ": " << r.output;
  }
  // The same directory linked twice (no cycle, but a tree no writer makes).
  build_pack(h.pack, {{".", h.src}});
  const uint64_t y = ino_of(h.pack, "x/y");
  rewrite_index(h.pack, "INSERT INTO dirents VALUES(1, CAST('again' AS BLOB), " + std::to_string(y) + ")");
  EXPECT_NE(walk_error(h.pack).find("is linked more than once"), std::string::npos) << walk_error(h.pack);
}

// Defect 6: an inode whose size disagrees with its content or chunks is
// refused before any byte of it is served (the mount served 10 bytes of a
// 300 KB file while verify said ok).
TEST(PackHostile, SizesThatDisagreeWithContentAreRefused) {
  HostileDir h;
  write_file(h.src / "big", random_bytes(303076, 3));
  build_pack(h.pack, {{".", h.src}});
  const std::string good = read_file(h.pack);
  for (std::string sql : {"UPDATE inodes SET size = 10 WHERE size = 303076",
                          "UPDATE inodes SET size = 400000 WHERE size = 303076",
                          "UPDATE contents SET size = 10 WHERE size = 303076"}) {
    write_file(h.pack, good);
    rewrite_index(h.pack, sql);
    auto pk = Pack::open(h.pack);
    try {
      pk->layout(pack_stat(*pk, "big").ino);
      ADD_FAILURE() << sql << ": layout accepted";
    } catch (const CorruptError& e) {
      EXPECT_NE(std::string(e.what()).find("size disagrees"), std::string::npos) << sql << ": " << e.what();
    }
    auto r = kso_pack_words("verify " + h.pack.string());
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("damaged file: big"), std::string::npos) << r.output;
    if (fuse_unavailable_reason().empty()) {
      Mount m(h.pack, h.tmp / "mnt", {"", {}, false});
      std::string got;
      r = run("cat " + q(m / "big") + " > /dev/null");
      EXPECT_NE(r.status, 0) << sql << ": a file whose size lies was served";
    }
  }
  // Sizes that agree with each other but not with the chunk table: refused when read.
  write_file(h.pack, good);
  rewrite_index(h.pack, "UPDATE inodes SET size = 10 WHERE size = 303076; UPDATE contents SET size = 10");
  auto pk = Pack::open(h.pack);
  EXPECT_THROW(pk->layout(pack_stat(*pk, "big").ino), CorruptError);
  auto r = kso_pack_words("verify " + h.pack.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("damaged file: big"), std::string::npos) << r.output;
}

// Defect 7: no meta table, or a root that is not a directory: no mount at all.
TEST(PackHostile, MissingTablesAndFileRootsDoNotMount) {
  HostileDir h;
  write_file(h.src / "f", "f\n");
  build_pack(h.pack, {{".", h.src}});
  const std::string good = read_file(h.pack);
  for (std::string sql : {"DROP TABLE meta", "DROP TABLE contents", "UPDATE inodes SET mode = 33188 WHERE ino = 1"}) {
    SCOPED_TRACE(sql);
    write_file(h.pack, good);
    rewrite_index(h.pack, sql);
    EXPECT_FALSE(open_error(h.pack).empty());
    if (!fuse_unavailable_reason().empty()) continue;
    fs::create_directories(h.tmp / "mnt");
    auto r = run("timeout 20 " + q(kso_fs_bin()) + " " + q(h.pack) + " " + q(h.tmp / "mnt"));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find(h.pack.string()), std::string::npos) << r.output;
    EXPECT_FALSE(is_mounted(h.tmp / "mnt"));
    force_unmount(h.tmp / "mnt");
  }
}

// Recorded download URLs are a v4 key: a v3 pack claiming them is refused at
// open, and a v4 pack whose value is not an object of URLs is refused by the
// tools that read it.
TEST(PackHostile, SourceUrlsOnlyInV4AndWellFormed) {
  HostileDir h;
  write_file(h.src / "f", "f\n");
  build_pack(h.pack, {{".", h.src}});
  ASSERT_EQ(Pack::open(h.pack)->version(), 3u);
  rewrite_index(h.pack, "INSERT INTO meta VALUES('source_urls', '{\"f\":\"https://elsewhere.example/f\"}')");
  EXPECT_NE(open_error(h.pack).find("meta key 'source_urls' is a v4 key"), std::string::npos) << open_error(h.pack);

  WriterOptions o = small_writer_options();
  o.max_profile = true;  // a v4 pack
  build_pack(h.tmp / "v4.kso", {{".", h.src}}, o);
  const std::string good = read_file(h.tmp / "v4.kso");
  for (std::string v : {"[1,2]", "{\"f\":3}", "{\"f\":\"\"}", "not json"}) {
    SCOPED_TRACE(v);
    write_file(h.tmp / "v4.kso", good);
    rewrite_index(h.tmp / "v4.kso", "INSERT INTO meta VALUES('source_urls', '" + v + "')");
    EXPECT_TRUE(open_error(h.tmp / "v4.kso").empty());  // a mount does not read it
    auto r = kso_pack({"manifest", (h.tmp / "v4.kso").string()});
    EXPECT_EQ(r.status, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("source_urls"), std::string::npos) << r.err;
  }
}

// Defect 8: a fifo given as the pack does not hang anything.
TEST(PackHostile, FifoIsRefusedWithoutBlocking) {
  HostileDir h;
  fs::create_directories(h.tmp / "mnt");
  ASSERT_EQ(mkfifo((h.tmp / "fifo").c_str(), 0644), 0);
  for (std::string cmd : {"info", "verify", "ls"}) {
    auto r = kso_pack_words(cmd + " " + (h.tmp / "fifo").string());  // in-process: a hang would be the test's
    EXPECT_EQ(r.status, 1) << cmd << ": " << r.output;
    EXPECT_NE(r.output.find("is not a regular file"), std::string::npos) << r.output;
  }
  if (fuse_unavailable_reason().empty()) {
    auto r = run("timeout 10 " + q(kso_fs_bin()) + " " + q(h.tmp / "fifo") + " " + q(h.tmp / "mnt"));
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("is not a regular file"), std::string::npos) << r.output;
  }
}

// Defect 10: symlinks that leave the pack are refused at build unless asked
// for, not resolved by the mount, not written by extract unless asked for.
// (The shipped nginx config refusing them: FsDeploy.)
TEST(PackHostile, EscapingSymlinksArePolicedEverywhere) {
  EXPECT_TRUE(symlink_escapes("/etc/passwd", 3));
  EXPECT_TRUE(symlink_escapes("../x", 0));
  EXPECT_FALSE(symlink_escapes("../x", 1));
  EXPECT_TRUE(symlink_escapes("../../x", 1));
  EXPECT_TRUE(symlink_escapes("a/../../x", 5));  // ".." after a name: a symlink `a` could sit anywhere
  EXPECT_FALSE(symlink_escapes("./a/./b", 0));
  EXPECT_FALSE(symlink_escapes("a/b/c", 0));
  EXPECT_TRUE(symlink_escapes("", 2));

  HostileDir h;
  write_file(h.src / "d" / "f", "f\n");
  ASSERT_EQ(symlink("/etc/passwd", (h.src / "d" / "passwd").c_str()), 0);
  ASSERT_EQ(symlink("../../../etc", (h.src / "d" / "up").c_str()), 0);
  ASSERT_EQ(symlink("../d/f", (h.src / "d" / "inside").c_str()), 0);
  auto r = kso_pack_words("-q build -o " + h.pack.string() + " x=" + h.src.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("symlink 'x/d/passwd' -> '/etc/passwd' points outside the pack"), std::string::npos)
      << r.output;
  EXPECT_FALSE(fs::exists(h.pack));
  r = kso_pack_words("-q build --allow-escaping-symlinks -o " + h.pack.string() + " x=" + h.src.string());
  ASSERT_EQ(r.status, 0) << r.output;
  auto pk = Pack::open(h.pack);
  EXPECT_TRUE(pk->escaping_symlink(pack_stat(*pk, "x/d/passwd").ino));
  EXPECT_TRUE(pk->escaping_symlink(pack_stat(*pk, "x/d/up").ino));
  EXPECT_FALSE(pk->escaping_symlink(pack_stat(*pk, "x/d/inside").ino));
  r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("skipped x/d/passwd"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::is_symlink(h.out / "x/d/passwd"));
  EXPECT_EQ(fs::read_symlink(h.out / "x/d/inside"), "../d/f");
  r = kso_pack_words("extract --allow-escaping-symlinks " + h.pack.string() + " " + (h.tmp / "out2").string());
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(fs::read_symlink(h.tmp / "out2/x/d/passwd"), "/etc/passwd");
  if (!fuse_unavailable_reason().empty()) return;
  {
    Mount m(h.pack, h.tmp / "mnt", {"", {}, false});
    char buf[64];
    EXPECT_EQ(readlink((m / "x/d/passwd").c_str(), buf, sizeof buf), -1);
    EXPECT_EQ(errno, EACCES);
    std::error_code ec;
    EXPECT_EQ(read_file(m / "x/d/inside"), "f\n");
    EXPECT_TRUE(m.log().find("outside the pack: not resolved") != std::string::npos) << m.log();
  }
  Mount m(h.pack, h.tmp / "mnt2", {"", {}, true});
  EXPECT_EQ(fs::read_symlink(m / "x/d/passwd"), "/etc/passwd");
}

// Defect 11: one content named by many paths would make extract write far
// more than the pack holds: the total is checked against free space first.
TEST(PackHostile, ExtractChecksFreeSpaceFirst) {
  if (getuid() != 0) GTEST_SKIP() << "needs root to mount a small tmpfs";
  HostileDir h;
  const std::string blob = random_bytes(1u << 20, 4);
  {
    PackWriter w(h.pack, small_writer_options());
    for (int i = 0; i < 300; i++) {
      SourceEntry e;
      e.path = "copies/c" + std::to_string(i);
      e.inline_data = blob;
      w.add(e);
    }
    w.finish();
  }
  EXPECT_LT(fs::file_size(h.pack), 3u << 20);  // 300 MiB of files in a ~1 MiB pack
  fs::create_directories(h.out);
  ASSERT_EQ(mount("tmpfs", h.out.c_str(), "tmpfs", 0, "size=64m"), 0) << strerror(errno);
  auto r = kso_pack_words("extract " + h.pack.string() + " " + h.out.string());
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("needs 301"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("free"), std::string::npos) << r.output;
  EXPECT_TRUE(fs::is_empty(h.out)) << "wrote before checking";
  umount2(h.out.c_str(), MNT_DETACH);
}

// Defect 12: messages a hostile or odd pack must not garble.
TEST(PackHostile, ListingsEscapeNamesAndShowSpecialBits) {
  HostileDir h;
  write_file(h.src / "evil\x1b[31mred", "x\n");
  write_file(h.src / "tab\there", "x\n");
  write_file(h.src / "ünïcödé", "x\n");
  write_file(h.src / "suid", "x\n");
  chmod((h.src / "suid").c_str(), 04755);
  fs::create_directories(h.src / "sticky");
  chmod((h.src / "sticky").c_str(), 01777);
  write_file(h.src / "sgid", "x\n");
  chmod((h.src / "sgid").c_str(), 02644);
  build_pack(h.pack, {{".", h.src}});
  auto r = kso_pack_words("ls -l " + h.pack.string());
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output.find('\x1b'), std::string::npos) << "raw escape character in ls output";
  EXPECT_NE(r.output.find("evil\\x1b[31mred"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("tab\\x09here"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("ünïcödé"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("-rwsr-xr-x"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("drwxrwxrwt"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("-rw-r-Sr--"), std::string::npos) << r.output;
}

// Defect 12: a source that changes while packed is named (and --strict fails).
TEST(PackHostile, SourceChangingWhilePackedIsReported) {
  HostileDir h;
  // /proc files say 0 bytes and then read more: a file that "grew".
  SourceEntry e;
  e.path = "status";
  e.source_file = "/proc/self/status";
  {
    PackWriter w(h.pack, small_writer_options());
    w.add(e);
    EXPECT_NO_THROW(w.finish());  // a warning only
  }
  WriterOptions o = small_writer_options();
  o.strict = true;
  PackWriter w(h.tmp / "strict.kso", o);
  w.add(e);
  try {
    w.finish();
    ADD_FAILURE() << "--strict packed a changing file";
  } catch (const Error& err) {
    EXPECT_NE(std::string(err.what()).find("/proc/self/status changed while it was packed"), std::string::npos)
        << err.what();
  }
  EXPECT_FALSE(fs::exists(h.tmp / "strict.kso"));
}

}  // namespace
}  // namespace kso
