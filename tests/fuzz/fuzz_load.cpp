// libFuzzer target: pocketvec::load on arbitrary bytes, then the loaded index put to work.
//
// The loader's promise (format.hpp): bad bytes throw pocketvec::error with corrupt_data or
// unsupported_version and nothing else happens; bytes that load give an index that can be
// searched, read, saved and changed without further checks. Anything else is a finding:
// a sanitizer report, an exception of another kind, or an abort() below on a broken invariant.
//
// Checksums would stop almost every mutation at the first CRC, so the custom mutator recomputes
// the header and section checksums after most mutations (not all: the checks themselves must be
// reached too). Run: pocketvec_fuzz_load -dict=format.dict corpus/ (scripts/stage-fuzz.sh).
// Built with -DPOCKETVEC_FUZZ_REPLAY (no mutator) next to replay_main.cpp, the same checks replay
// the seed corpus and tests/fuzz/regressions as the CTest test fuzz.replay.
#include <pocketvec/pocketvec.hpp>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <vector>

namespace pv = pocketvec;

namespace {

[[noreturn]] void violated(const char* what) {
  std::fprintf(stderr, "fuzz_load: invariant violated: %s\n", what);
  std::abort();
}
#define FUZZ_CHECK(cond) ((cond) ? void(0) : violated(#cond))

/// Header bytes that save() does not reproduce from a loaded file of this format version: the
/// reserved fields, and so the CRC. (Files of an older minor are re-saved as this one: only the
/// fixed point below applies to them.)
bool header_byte_may_differ(std::size_t at) {
  return at == 11 || (at >= 64 && at < 68) || at >= 92;
}

std::vector<std::uint8_t> save_checked(const pv::index& idx) {
  auto bytes = pv::save(idx);
  // The chunked writer must produce the same bytes.
  pv::chunked_writer w(idx, 61);
  FUZZ_CHECK(w.total_bytes() == bytes.size());
  std::vector<std::uint8_t> chunk, all;
  while (w.next(chunk)) all.insert(all.end(), chunk.begin(), chunk.end());
  FUZZ_CHECK(all == bytes);
  return bytes;
}

/// save -> load -> save is a fixed point; returns the saved bytes.
std::vector<std::uint8_t> check_round_trip(const pv::index& idx) {
  const auto bytes = save_checked(idx);
  std::optional<pv::index> back;
  try {
    back.emplace(pv::load(bytes));
  } catch (const pv::error& e) {
    std::fprintf(stderr, "fuzz_load: re-saved bytes do not load: %s\n", e.what());
    violated("load(save(index)) succeeds");
  }
  FUZZ_CHECK(pv::save(*back) == bytes);
  FUZZ_CHECK(back->size() == idx.size());
  FUZZ_CHECK(back->deleted_count() == idx.deleted_count());
  return bytes;
}

// `stored`: q is a stored vector. SQ8 decodes it from a range the file chose, which may make it
// longer than search() accepts (errc::out_of_range, "too large"): a clean refusal, not a failure.
void check_search(pv::index& idx, std::span<const float> q, bool stored = false) {
  const std::size_t k = 5;
  std::vector<pv::search_result> found;
  try {
    found = idx.search(q, k, 16);
  } catch (const pv::error& e) {
    if (stored && e.code() == pv::errc::out_of_range) return;
    // The queries below are finite and non-zero; an index with live vectors must answer.
    std::fprintf(stderr, "fuzz_load: search threw: %s\n", e.what());
    violated("search on a loaded index with live vectors succeeds");
  }
  FUZZ_CHECK(found.size() <= k);
  std::set<pv::id_t> seen;
  for (const auto& r : found) {
    FUZZ_CHECK(idx.contains(r.id));          // never a tombstone, never an unknown id
    FUZZ_CHECK(seen.insert(r.id).second);    // no duplicates
  }
}

/// A segment appended to `file` (the bytes `idx` was loaded from, or last saved and appended to)
/// loads as idx saves: the incremental save agrees with the full one. Returns the longer file, and
/// in `pt` the state it describes (invalid when idx is not appendable: the file is returned as is).
std::vector<std::uint8_t> check_append(const pv::index& idx, std::span<const std::uint8_t> file, pv::save_point& pt) {
  std::vector<std::uint8_t> longer(file.begin(), file.end());
  pt = {};
  if (!idx.appendable()) return longer;
  const auto seg = pv::save(idx, pv::save_mode::append, &pt);
  FUZZ_CHECK(pt.valid && pt.count == idx.size() + idx.deleted_count());
  longer.insert(longer.end(), seg.begin(), seg.end());
  std::optional<pv::index> back;
  try {
    back.emplace(pv::load(longer));
  } catch (const pv::error& e) {
    std::fprintf(stderr, "fuzz_load: a file with an appended segment does not load: %s\n", e.what());
    violated("load(file + segment) succeeds");
  }
  FUZZ_CHECK(pv::save(*back) == pv::save(idx));
  FUZZ_CHECK(back->appendable() && back->last_save().digest == pt.digest);
  return longer;
}

void exercise(pv::index& idx, std::span<const std::uint8_t> input, std::size_t segments) {
  const auto& p = idx.params();
  const std::size_t dim = p.dim;

  // Saving gives the input back, up to fields the format reserves.
  const auto bytes = check_round_trip(idx);
  FUZZ_CHECK(segments != 0 || bytes.size() == input.size());
  std::uint16_t minor;
  std::memcpy(&minor, input.data() + 6, 2);
  // The writer writes 1.1, or 1.2 when keys or metadata follow (flag bits 2, 3): those re-save as
  // they are. A file with segments re-saves as one whole file (the fixed point above holds).
  if (segments == 0 && (minor == 1 || (minor == 2 && (input[10] & 12) != 0)))
    for (std::size_t i = 0; i < bytes.size(); ++i)
      if (bytes[i] != input[i] && !(i < pv::format_header_bytes && header_byte_may_differ(i)))
        violated("save(load(bytes)) == bytes outside reserved header fields");

  // Every id names its last slot (upsert leaves older, tombstoned slots behind until compaction):
  // live ones are found and readable, tombstoned ones are refused.
  std::vector<pv::id_t> slot_ids;
  std::vector<bool> dead;
  idx.visit([&](const auto& core) {
    const auto& st = core.state();
    slot_ids = st.slot_ids;
    for (std::size_t s = 0; s < slot_ids.size(); ++s) dead.push_back((st.deleted[s / 64] >> (s % 64)) & 1u);
  });
  FUZZ_CHECK(slot_ids.size() == idx.size() + idx.deleted_count());
  std::map<pv::id_t, std::size_t> last_slot;
  for (std::size_t s = 0; s < slot_ids.size(); ++s) {
    const auto [it, fresh] = last_slot.insert({slot_ids[s], s});
    if (!fresh) {
      FUZZ_CHECK(dead[it->second]);  // the loader's rule: only the last slot of an id may be live
      it->second = s;
    }
  }
  std::vector<float> live_vector;
  std::size_t probed = 0;
  for (const auto& [id, s] : last_slot) {
    if (++probed > 8) break;
    FUZZ_CHECK(idx.contains(id) == !dead[s]);
    try {
      const auto v = idx.get(id);
      FUZZ_CHECK(!dead[s]);
      FUZZ_CHECK(v.size() == dim);
      if (live_vector.empty()) live_vector = v;
    } catch (const pv::error& e) {
      FUZZ_CHECK(dead[s] && e.code() == pv::errc::deleted_id);
    }
  }

  // Two queries: a stored vector (when it is usable as a query) and a fixed one.
  if (idx.size() > 0) {
    std::vector<float> fixed(dim);
    for (std::size_t i = 0; i < dim; ++i) fixed[i] = (i % 3 == 0) ? 1.0f : -0.5f;
    check_search(idx, fixed);
    bool usable = !live_vector.empty();
    if (usable && p.metric_kind == pv::metric::cosine) {
      usable = false;
      for (float x : live_vector) usable |= x != 0.0f;
    }
    if (usable) check_search(idx, live_vector, /*stored=*/true);
  }

  // The loaded index keeps working: insert, erase, compact, and it still saves and loads.
  if (slot_ids.size() > 2000) return;  // keep executions fast
  try {
    std::vector<float> v(dim, 0.25f);
    v[0] = 1.0f;
    const pv::id_t id = idx.insert(v);
    FUZZ_CHECK(idx.contains(id));
    check_round_trip(idx);
    // Incremental saves: what changed since the load, appended to the input, loads as the index.
    pv::save_point pt;
    std::vector<std::uint8_t> file = check_append(idx, input, pt);
    if (pt.valid) idx.saved(pt);  // as if `file` were stored: the next segment extends it
    idx.erase(id);
    FUZZ_CHECK(!idx.contains(id));
    file = check_append(idx, file, pt);
    // Keys and metadata: whatever fields the file brought, a key that is new and a field of its own.
    const std::string key = "fuzz-key-" + std::to_string(idx.id_bound());
    if (!idx.find_key(key)) {
      const pv::id_t kid = idx.insert(v, key);  // no metadata: it matches exists(f, false) for any f
      FUZZ_CHECK(idx.find_key(key) == std::optional<pv::id_t>(kid));
      FUZZ_CHECK(idx.key_of(kid) == std::optional<std::string_view>(key));
      const auto hits = idx.search(v, 4, pv::where::exists("fuzz_field", false));
      FUZZ_CHECK(!hits.empty());
      for (const auto& h : hits) FUZZ_CHECK(idx.contains(h.id));
      check_round_trip(idx);
      idx.erase(kid);
      FUZZ_CHECK(!idx.find_key(key));
    }
    idx.compact();
    FUZZ_CHECK(idx.deleted_count() == 0);
    check_round_trip(idx);
  } catch (const pv::error& e) {
    // An index whose next id is the last one cannot take another vector; nothing else may fail.
    if (e.code() != pv::errc::capacity_exceeded) {
      std::fprintf(stderr, "fuzz_load: mutation threw: %s\n", e.what());
      violated("insert/erase/compact on a loaded index succeed");
    }
  }
}

#ifndef POCKETVEC_FUZZ_REPLAY  // the replay driver (replay_main.cpp) has no libFuzzer to mutate with
/// Recomputes the header checksum and the checksum of every section that fits in the data, and
/// in a file with segments each segment's header checksum and the digest its envelope names.
void fix_checksums(std::uint8_t* data, std::size_t size) {
  if (size < pv::format_header_bytes) return;
  auto crc = [](const std::uint8_t* p, std::size_t n) { return pv::detail::crc32c::of({p, n}); };
  std::size_t at = 0;
  pv::detail::crc32c digest;  // of the part being walked (a segment's starts with its envelope's digest)
  for (;;) {
    if (size - at < pv::format_header_bytes) return;
    const std::uint32_t h = crc(data + at, pv::format_header_bytes - 4);
    std::memcpy(data + at + pv::format_header_bytes - 4, &h, 4);
    digest.update(data + at + pv::format_header_bytes - 4, 4);
    at += pv::format_header_bytes;
    // Sections up to the next envelope (or the end).
    while (size - at >= 16 && std::memcmp(data + at, "PVSG", 4) != 0) {
      std::uint64_t len;
      std::memcpy(&len, data + at + 4, 8);
      if (len > size - at - 16) return;
      const std::uint32_t c = crc(data + at + 16, static_cast<std::size_t>(len));
      std::memcpy(data + at + 12, &c, 4);
      digest.update(data + at + 12, 4);
      at += 16 + static_cast<std::size_t>(len);
    }
    if (size - at < pv::detail::segment_envelope_bytes || std::memcmp(data + at, "PVSG", 4) != 0) return;
    const std::uint32_t prev = digest.value();
    std::memcpy(data + at + 4, &prev, 4);
    digest = pv::detail::crc32c();
    digest.update(data + at + 4, 4);
    at += pv::detail::segment_envelope_bytes;
  }
}
#endif

}  // namespace

#ifndef POCKETVEC_FUZZ_REPLAY
extern "C" std::size_t LLVMFuzzerMutate(std::uint8_t* data, std::size_t size, std::size_t max_size);

extern "C" std::size_t LLVMFuzzerCustomMutator(std::uint8_t* data, std::size_t size,
                                               std::size_t max_size, unsigned int seed) {
  size = LLVMFuzzerMutate(data, size, max_size);
  if (seed % 8 != 0) fix_checksums(data, size);  // 1 in 8 keeps whatever checksums it has
  return size;
}
#endif

/// The push parser fed `input` in pieces of 1 + size % 61 bytes (1 for sizes that are multiples of
/// 61): nullopt when it refuses them.
std::optional<pv::index> load_in_pieces(std::span<const std::uint8_t> input, std::size_t& segments) {
  const std::size_t piece = 1 + input.size() % 61;
  pv::chunked_reader r;
  try {
    for (std::size_t at = 0; at < input.size(); at += piece) r.feed(input.subspan(at, std::min(piece, input.size() - at)));
    segments = r.segments();
    return r.finish();
  } catch (const pv::error& e) {
    if (e.code() != pv::errc::corrupt_data && e.code() != pv::errc::unsupported_version) {
      std::fprintf(stderr, "fuzz_load: the push parser threw errc %d: %s\n", static_cast<int>(e.code()), e.what());
      violated("the push parser fails only with corrupt_data or unsupported_version");
    }
    return std::nullopt;
  }
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::span<const std::uint8_t> input(data, size);
  std::optional<pv::index> idx;
  // load() feeds the whole input at once; in pieces, the same parser must agree on every input.
  std::size_t segments = 0;
  std::optional<pv::index> pieces = load_in_pieces(input, segments);
  try {
    idx.emplace(pv::load(input));
  } catch (const pv::error& e) {
    if (e.code() != pv::errc::corrupt_data && e.code() != pv::errc::unsupported_version) {
      std::fprintf(stderr, "fuzz_load: load threw errc %d: %s\n", static_cast<int>(e.code()), e.what());
      violated("load fails only with corrupt_data or unsupported_version");
    }
    FUZZ_CHECK(!pieces);
    return 0;
  }
  FUZZ_CHECK(pieces.has_value());
  FUZZ_CHECK(pv::save(*pieces) == pv::save(*idx));
  const std::uint32_t pieces_digest = pieces->last_save().digest;
  pieces.reset();
  FUZZ_CHECK(pieces_digest == idx->last_save().digest);
  exercise(*idx, input, segments);
  return 0;
}
