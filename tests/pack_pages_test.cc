// Raw blocks are verified per 64 KiB page: damage in one page fails reads of
// that page only, and never returns wrong bytes.
#include <gtest/gtest.h>

#include <fstream>

#include "index/error.h"
#include "index/pack_reader.h"
#include "index/pack_writer.h"
#include "tests/support/testutil.h"

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
  uint32_t block_size = 0;
  {
    auto p = Pack::open(pack_path);
    for (uint32_t i = 0; i < p->block_count(); i++)
      if (p->block_entry(i).codec == Codec::Raw && p->block_entry(i).stored_size > 3 * kRawPageSize) {
        raw_id = i;
        block_off = p->block_entry(i).offset;
        block_size = p->block_entry(i).stored_size;
        break;
      }
    ASSERT_NE(raw_id, UINT32_MAX) << "random data should be stored raw";
    std::string scratch;
    auto whole = p->raw_range(raw_id, 0, block_size, scratch);
    EXPECT_EQ(whole.size(), block_size);
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
  std::string scratch;
  auto first = p->raw_range(raw_id, 100, 4096, scratch);
  EXPECT_EQ(first.size(), 4096u);
  std::string copy(first);
  auto third = p->raw_range(raw_id, 2 * kRawPageSize + 10, 5000, scratch);
  EXPECT_EQ(third.size(), 5000u);
  EXPECT_THROW(p->raw_range(raw_id, kRawPageSize + 1000, 10, scratch), CorruptError);
  EXPECT_THROW(p->raw_range(raw_id, kRawPageSize - 10, 20, scratch), CorruptError);  // straddles into it
  EXPECT_THROW(p->block(raw_id), CorruptError);  // the whole-block check sees it too
  // The bytes that did verify are the source's bytes: find them in `data`.
  auto layout = p->layout(p->lookup_path("f")->ino);
  bool found = false;
  for (auto& ch : layout->chunks)
    if (ch.block == raw_id && ch.block_offset <= 100 && ch.block_offset + ch.length >= 100 + 4096) {
      EXPECT_EQ(copy, data.substr(ch.file_offset + (100 - ch.block_offset), 4096));
      found = true;
    }
  EXPECT_TRUE(found);
  EXPECT_THROW(p->raw_range(raw_id, block_size - 10, 20, scratch), CorruptError);  // past the block's end
}

}  // namespace
}  // namespace kso
