// Raw blocks are verified per 64 KiB page: damage in one page fails reads of
// that page only, and never returns wrong bytes.
#include <gtest/gtest.h>

#include <fstream>

#include "index/error.h"
#include "index/pack_reader.h"
#include "index/write/pack_writer.h"
#include "index/verify.h"
#include "tests/support/testutil.h"
#include "tests/support/tree_gen.h"

namespace kso {
namespace {

using test::TempDir;

TEST(PackPages, DamageInOnePageFailsOnlyThatPage) {
  TempDir dir;
  // Random bytes do not compress: stored in raw blocks (1 MiB by default).
  std::string data = test::random_bytes(3 << 20, 7);
  auto pack_path = dir / "p.kso";
  {
    PackWriter w(pack_path, WriterOptions{});
    SourceEntry e;
    e.path = "f";
    e.inline_data = data;
    w.add(e);
    w.finish();
  }
  uint32_t raw_id = UINT32_MAX;
  uint64_t block_off = 0;
  {
    auto p = Pack::open(pack_path);
    for (uint32_t i = 0; i < p->block_count(); i++)
      if (p->block_entry(i).codec == Codec::Raw && p->block_entry(i).stored_size > 3 * kRawPageSize) {
        raw_id = i;
        block_off = p->block_entry(i).offset;
        break;
      }
    ASSERT_NE(raw_id, UINT32_MAX) << "random data should be stored raw";
    EXPECT_NO_THROW(verify_block(*p, raw_id));
  }
  // Flip one byte in the block's second page.
  {
    std::fstream f(pack_path, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(std::streamoff(block_off + kRawPageSize + 1234));
    char c;
    f.read(&c, 1);
    c = char(c ^ 0x5a);
    f.seekp(std::streamoff(block_off + kRawPageSize + 1234));
    f.write(&c, 1);
  }
  auto p = Pack::open(pack_path);  // metadata is intact: open succeeds
  auto layout = p->layout(p->lookup_path("f")->ino);
  // File offset of byte `at` of the raw block (the file is its only content).
  auto file_at = [&](uint32_t at) -> uint64_t {
    for (auto& ch : layout->chunks)
      if (ch.block == raw_id && ch.block_offset <= at && at < ch.block_offset + ch.length)
        return ch.file_offset + (at - ch.block_offset);
    ADD_FAILURE() << "no chunk holds block byte " << at;
    return 0;
  };
  auto read = [&](uint32_t at, size_t len) { return test::read_through(*p, *layout, file_at(at), len, *p); };
  // Pages 0 and 2 still verify, and their bytes are the source's.
  EXPECT_EQ(read(100, 4096), data.substr(file_at(100), 4096));
  EXPECT_EQ(read(2 * kRawPageSize + 10, 5000), data.substr(file_at(2 * kRawPageSize + 10), 5000));
  // Page 1 fails, alone or as part of a larger read; so does the block as a whole.
  EXPECT_THROW(read(kRawPageSize + 1000, 10), CorruptError);
  EXPECT_THROW(read(kRawPageSize - 10, 20), CorruptError);  // straddles into it
  EXPECT_THROW(p->block(raw_id), CorruptError);
  try {
    verify_block(*p, raw_id);
    ADD_FAILURE() << "check_block missed the damage";
  } catch (const CorruptError& e) {
    EXPECT_NE(std::string(e.what()).find("block " + std::to_string(raw_id)), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kso
