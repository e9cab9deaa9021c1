// pocketvec/format.hpp — the binary format (docs/format.md is the spec): save, load, chunked I/O.
//
// Layout: a fixed 96-byte header (magic "PVEC", version, parameters, counts, CRC-32C of the header),
// then sections in a fixed order, each [tag u32][length u64][crc32c u32][payload]. Little-endian
// everywhere; no size_t on disk. Writing is deterministic: the same index gives the same bytes.
//
// Both directions stream: the serializer is pulled a chunk at a time from the index's own arrays,
// the loader is a push parser that writes each piece straight into the arrays of the index to be.
// Loading never trusts its input and is all-or-nothing: every length is checked against the header
// before anything is allocated and allocation follows the bytes that arrive, every checksum is
// verified, every count, id, level and neighbour is validated, and only then is an index
// constructed. A byte string that loads can be searched without further checks. Failures throw
// pocketvec::error with errc::corrupt_data, or errc::unsupported_version for files from a newer
// major version.
// Depends on index.hpp (and, through it, everything else); nothing depends on it but the umbrella.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <istream>
#include <iterator>
#include <limits>
#include <memory>
#include <ostream>
#include <span>
#include <string>
#include <vector>

#include "index.hpp"

static_assert(std::endian::native == std::endian::little,
              "pocketvec's format writes arrays as they are in memory: little-endian hosts only");

// The crc32 instruction, picked at run time when the build does not assume SSE4.2 (x86-64 GCC/clang).
#if !defined(POCKETVEC_CRC32C_DISPATCH)
#if !defined(__SSE4_2__) && defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define POCKETVEC_CRC32C_DISPATCH 1
#else
#define POCKETVEC_CRC32C_DISPATCH 0
#endif
#endif

namespace pocketvec::inline POCKETVEC_ABI {

inline constexpr std::uint16_t format_major = 1;
inline constexpr std::uint16_t format_minor = 3;
inline constexpr std::size_t format_header_bytes = 96;

namespace detail {

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78). With SSE4.2 (compiled in, or found at run
/// time on x86-64 GCC/clang) the crc32 instruction, 8 bytes per step (about 8 GB/s); elsewhere (WASM)
/// the portable table-driven slicing-by-8 (1-1.5 GB/s natively). Both give the same value.
class crc32c {
 public:
  void update(const std::uint8_t* p, std::size_t n) noexcept {
#if defined(__SSE4_2__)
    state_ = hw(state_, p, n);
#else
#if POCKETVEC_CRC32C_DISPATCH
    static const bool has_hw = __builtin_cpu_supports("sse4.2");
    if (has_hw) {
      state_ = hw(state_, p, n);
      return;
    }
#endif
    state_ = portable(state_, p, n);
#endif
  }
  std::uint32_t value() const noexcept { return ~state_; }

  static std::uint32_t of(std::span<const std::uint8_t> bytes) noexcept {
    crc32c c;
    c.update(bytes.data(), bytes.size());
    return c.value();
  }

  /// The table-driven form (also what the tests compare the instruction against).
  static std::uint32_t portable(std::uint32_t c, const std::uint8_t* p, std::size_t n) noexcept {
    const auto& t = tables();
    while (n >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      w ^= c;
      c = t[7][w & 0xFF] ^ t[6][(w >> 8) & 0xFF] ^ t[5][(w >> 16) & 0xFF] ^ t[4][(w >> 24) & 0xFF] ^
          t[3][(w >> 32) & 0xFF] ^ t[2][(w >> 40) & 0xFF] ^ t[1][(w >> 48) & 0xFF] ^ t[0][w >> 56];
      p += 8;
      n -= 8;
    }
    while (n--) c = t[0][(c ^ *p++) & 0xFF] ^ (c >> 8);
    return c;
  }

#if defined(__SSE4_2__) || POCKETVEC_CRC32C_DISPATCH
#if !defined(__SSE4_2__)
  __attribute__((target("sse4.2")))
#endif
  static std::uint32_t hw(std::uint32_t c, const std::uint8_t* p, std::size_t n) noexcept {
    std::uint64_t c64 = c;
    while (n >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      c64 = __builtin_ia32_crc32di(c64, w);
      p += 8;
      n -= 8;
    }
    c = static_cast<std::uint32_t>(c64);
    while (n--) c = __builtin_ia32_crc32qi(c, *p++);
    return c;
  }
#endif

 private:
  using table_set = std::array<std::array<std::uint32_t, 256>, 8>;
  static const table_set& tables() noexcept {
    static const table_set t = make_tables();
    return t;
  }
  // A plain function, not a constant expression: the 8 KiB of tables are computed at the first use
  // (2048 steps) instead of being shipped as data gzip cannot shrink (-8.3 KB gzip of the package).
  POCKETVEC_COLD static table_set make_tables() noexcept {
    table_set r{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c >> 1) ^ (0x82F63B78u & (0u - (c & 1u)));
      r[0][i] = c;
    }
    for (std::size_t s = 1; s < 8; ++s)
      for (std::size_t i = 0; i < 256; ++i) r[s][i] = (r[s - 1][i] >> 8) ^ r[0][r[s - 1][i] & 0xFF];
    return r;
  }
  std::uint32_t state_ = 0xFFFFFFFFu;
};

[[noreturn]] inline void corrupt(const std::string& what) {
  fail(errc::corrupt_data, "corrupt index bytes: " + what);
}

/// Appends little-endian scalars to a byte vector.
struct byte_writer {
  std::vector<std::uint8_t>& out;
  template <class T>
  void put(T v) {
    std::uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out.insert(out.end(), b, b + sizeof(T));
  }
};

/// Bounds-checked reads over a byte span; every read past the end is corrupt_data.
class byte_reader {
 public:
  explicit byte_reader(std::span<const std::uint8_t> b) : b_(b) {}
  std::size_t remaining() const noexcept { return b_.size() - pos_; }
  std::size_t position() const noexcept { return pos_; }
  template <class T>
  T get(const char* what) {
    if (remaining() < sizeof(T)) corrupt(std::string("truncated while reading ") + what);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::span<const std::uint8_t> take(std::uint64_t n, const char* what) {
    if (n > remaining()) corrupt(std::string("truncated in ") + what);
    auto s = b_.subspan(pos_, static_cast<std::size_t>(n));
    pos_ += static_cast<std::size_t>(n);
    return s;
  }

 private:
  std::span<const std::uint8_t> b_;
  std::size_t pos_ = 0;
};

/// a*b, or corrupt_data if it overflows 64 bits.
inline std::uint64_t checked_mul(std::uint64_t a, std::uint64_t b, const char* what) {
  if (a != 0 && b > ~std::uint64_t{0} / a) corrupt(std::string("size overflow in ") + what);
  return a * b;
}

constexpr std::uint32_t tag(const char (&s)[5]) {
  return std::uint32_t(std::uint8_t(s[0])) | std::uint32_t(std::uint8_t(s[1])) << 8 |
         std::uint32_t(std::uint8_t(s[2])) << 16 | std::uint32_t(std::uint8_t(s[3])) << 24;
}

// Section tags, in file order. Which of them appear depends on the store (see docs/format.md).
inline constexpr std::uint32_t tag_ids = tag("IDS_");     // slot -> id, u32 each
inline constexpr std::uint32_t tag_deleted = tag("DEL_"); // tombstone bitset, u64 words
inline constexpr std::uint32_t tag_levels = tag("LVL_");  // level per node, u8 each
inline constexpr std::uint32_t tag_links = tag("LNK_");   // per node, per level: u16 count + u32s
inline constexpr std::uint32_t tag_f32 = tag("F32_");     // f32 rows
inline constexpr std::uint32_t tag_ranges = tag("SQR_");  // SQ8 lo[dim], step[dim]
inline constexpr std::uint32_t tag_codes = tag("SQC_");   // SQ8 codes, u8 rows
inline constexpr std::uint32_t tag_norms = tag("SQN_");   // SQ8 per-vector norm term, f32 (cosine; l2 in 1.0)
inline constexpr std::uint32_t tag_l2_norms = tag("SQD_"); // SQ8 l2 since 1.1: |x̂ - lo|² per vector, f32
inline constexpr std::uint32_t tag_keys = tag("KEY_");    // 1.2, flag_keys: per slot key end offsets + bytes
inline constexpr std::uint32_t tag_attrs = tag("ATR_");   // 1.2, flag_attrs: the metadata columns
inline constexpr std::uint32_t tag_relinks = tag("RLK_"); // 1.3, segments: changed lists of older slots
inline constexpr std::size_t segment_envelope_bytes = 8;    // 1.3: "PVSG", digest of the part it extends

template <class T>
std::span<const std::uint8_t> as_bytes(std::span<const T> s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size_bytes()};
}

constexpr std::uint8_t flag_rerank = 1, flag_trained = 2;
constexpr std::uint8_t flag_keys = 4, flag_attrs = 8;  // 1.2: KEY_ / ATR_ follow the store's sections

/// The flags of the records beside the store; a file carrying neither is written as 1.1, which
/// every reader since 1.1 understands (and whose bytes are those a 1.1 writer made).
inline std::uint8_t record_flags(const attributes& a, const key_table& k) noexcept {
  return static_cast<std::uint8_t>((k.empty() ? 0 : flag_keys) | (a.empty() ? 0 : flag_attrs));
}

template <class Store>
std::uint8_t store_flags(const Store& s) {
  if constexpr (requires { s.is_trained(); })
    return static_cast<std::uint8_t>((s.rerank() ? flag_rerank : 0) | (s.is_trained() ? flag_trained : 0));
  else
    return 0;
}

/// The file as a pull stream: read() copies the next bytes out. Every section but LNK_ is a list of
/// spans into the index's own arrays; LNK_'s u16 counts and u32 slots are encoded one node at a time
/// (once in the constructor for the section's length and checksum, once on the way out), so saving
/// stages nothing that grows with the index. The index must not change while a serializer exists.
class serializer {
 public:
  /// A full file, or (base != nullptr) a segment with what changed since save point *base: the
  /// caller checked idx.appendable() and that *base is idx.last_save().
  template <class Store>
  POCKETVEC_COLD explicit serializer(const basic_index<Store>& idx, const save_point* base = nullptr)
      : g_(&idx.state().links) {
    const auto& st = idx.state();
    const std::size_t n = st.slot_ids.size();
    const std::uint8_t records = record_flags(st.attrs, st.keys);
    if (base) begin_segment(*base);
    write_header(idx.params(), static_cast<std::uint8_t>(store_flags(st.store) | records),
                 segment_ ? 3 : records ? 2 : 1, n, st.deleted_count, st.next_id, st.levels_drawn, idx.sq8());
    add_common(as_bytes(std::span<const id_t>(st.slot_ids).subspan(first_)),
               as_bytes(std::span<const std::uint64_t>(st.deleted.data(), (n + 63) / 64)));
    add_store(st.store);
    add_records(st.attrs, st.keys);
    measure();
    point_.count = n;
    point_.trained = idx.sq8().trained;
    point_.edits = idx.edits();
    point_.owner = idx.owner();
    point_.valid = true;
  }

  /// A segment since `base`: its envelope, and the older slots whose lists changed.
  POCKETVEC_COLD void begin_segment(const save_point& base) {
    first_ = static_cast<std::size_t>(base.count);
    segment_ = true;
    const auto changed = g_->changed();
    for (std::size_t w = 0; w < changed.size(); ++w)
      for (std::uint64_t bits = changed[w]; bits; bits &= bits - 1)
        relinks_.push_back(static_cast<slot_t>(64 * w + static_cast<std::size_t>(std::countr_zero(bits))));
    header_.insert(header_.end(), {'P', 'V', 'S', 'G'});
    byte_writer w{header_};
    w.put(base.digest);
  }
  serializer(const serializer&) = delete;
  serializer& operator=(const serializer&) = delete;

  std::uint64_t total_bytes() const noexcept { return total_; }
  /// The state these bytes describe.
  const save_point& point() const noexcept { return point_; }

 private:
  /// The 96-byte header (one copy for every store type).
  POCKETVEC_COLD void write_header(const index_params& p, std::uint8_t flags, std::uint16_t minor, std::size_t n,
                                   std::size_t deleted, id_t next_id, std::uint64_t levels_drawn, const sq8_stats& q) {
    const std::size_t at = header_.size();  // after a segment's envelope
    header_.reserve(at + format_header_bytes);
    byte_writer w{header_};
    header_.insert(header_.end(), {'P', 'V', 'E', 'C'});
    w.put(format_major);
    w.put(minor);
    w.put(static_cast<std::uint8_t>(p.metric_kind));
    w.put(static_cast<std::uint8_t>(p.quant));
    w.put(flags);
    w.put(std::uint8_t{0});
    w.put(static_cast<std::uint32_t>(p.dim));
    w.put(static_cast<std::uint32_t>(p.m));
    w.put(static_cast<std::uint32_t>(p.ef_construction));
    w.put(static_cast<std::uint32_t>(p.ef_search));
    w.put(static_cast<std::uint64_t>(p.seed));
    w.put(p.compact_threshold);
    w.put(static_cast<std::uint32_t>(p.sq8_training_size));
    w.put(static_cast<std::uint64_t>(n));
    w.put(static_cast<std::uint64_t>(deleted));
    w.put(static_cast<std::uint32_t>(next_id));
    w.put(static_cast<std::uint32_t>(0));  // reserved
    w.put(levels_drawn);
    w.put(q.encoded);  // 1.1: offsets 76 and 84, reserved (zero) in 1.0
    w.put(q.clamped);
    w.put(crc32c::of(std::span<const std::uint8_t>(header_).subspan(at)));
    POCKETVEC_ASSERT(header_.size() == at + format_header_bytes);
  }

  /// Each section's length and checksum into its header; the file's length. The same for every
  /// store type, so compiled once rather than in each of the six constructors.
  POCKETVEC_COLD void measure() {
    const std::size_t n = g_->size();
    total_ = header_.size();
    // The digest that names these bytes: the checksums of their parts (docs/format.md, "Segments").
    crc32c digest;
    if (segment_) digest.update(header_.data() + 4, 4);
    digest.update(header_.data() + header_.size() - 4, 4);
    for (section& s : sections_) {
      crc32c c;
      std::uint64_t len = 0;
      const bool links = s.tag == tag_links, relinks = s.tag == tag_relinks;
      const std::size_t nodes = links ? n - first_ : relinks ? relinks_.size() : 0;
      for (std::size_t i = 0; i < nodes; ++i) {
        encode_node(links ? static_cast<slot_t>(first_ + i) : relinks_[i], relinks);
        c.update(node_.data(), node_.size());
        len += node_.size();
      }
      for (auto piece : s.pieces) {
        c.update(piece.data(), piece.size());
        len += piece.size();
      }
      std::uint8_t* h = s.head.data();
      std::memcpy(h, &s.tag, 4);
      std::memcpy(h + 4, &len, 8);
      const std::uint32_t crc = c.value();
      std::memcpy(h + 12, &crc, 4);
      digest.update(h + 12, 4);
      total_ += s.head.size() + len;
    }
    point_.digest = digest.value();
    cur_ = header_;
  }

 public:
  /// Copies the next (up to) `cap` bytes of the file to `dst`; returns how many, cap unless the file ends.
  POCKETVEC_COLD std::size_t read(std::uint8_t* dst, std::size_t cap) {
    std::size_t done = 0;
    while (done < cap) {
      if (off_ == cur_.size()) {
        if (!advance()) break;
        continue;
      }
      const std::size_t k = std::min(cap - done, cur_.size() - off_);
      std::memcpy(dst + done, cur_.data() + off_, k);
      off_ += k;
      done += k;
    }
    return done;
  }

 private:
  struct section {
    std::uint32_t tag;
    std::vector<std::span<const std::uint8_t>> pieces;
    std::array<std::uint8_t, 16> head{};  // tag, length, crc
  };

  std::vector<std::span<const std::uint8_t>>& add(std::uint32_t t) {
    sections_.push_back({t, {}, {}});
    return sections_.back().pieces;
  }

  /// Rows first_.. of `rows` (all of them in a full file).
  template <class T>
  void add_rows(std::uint32_t t, const row_blocks<T>& rows) {
    auto& pieces = add(t);
    std::size_t skip = first_ * rows.stride();
    rows.for_each_span([&](std::span<const T> span) {
      const std::size_t k = std::min(skip, span.size());
      skip -= k;
      if (k < span.size()) pieces.push_back(as_bytes(span.subspan(k)));
    });
  }

  template <metric M, class K>
  void add_store(const f32_store<M, K>& s) {
    add_rows(tag_f32, s.rows());
  }

  template <metric M, class K>
  void add_store(const sq8_store<M, K>& s) {
    add_sq8(M, s.is_trained(), s.rerank(), s.quantizer(), s.codes(), s.norms(), s.raw());
  }

  // The store-independent parts, compiled once rather than in each of the six constructors.
  POCKETVEC_COLD void add_common(std::span<const std::uint8_t> ids, std::span<const std::uint8_t> deleted) {
    add(tag_ids).push_back(ids);
    add(tag_deleted).push_back(deleted);
    add(tag_levels).push_back(g_->raw_levels().subspan(first_));
    add(tag_links);  // no spans: encoded node by node
    if (segment_) add(tag_relinks);  // the same, with each node's slot first
  }
  POCKETVEC_COLD void add_sq8(metric m, bool trained, bool rerank, const sq8_quantizer& q,
                              const row_blocks<std::uint8_t>& codes, const row_blocks<float>& norms,
                              const row_blocks<float>& raw) {
    if (trained) {
      if (!segment_) {  // a segment extends a state with the same ranges (else it is not appendable)
        auto& r = add(tag_ranges);
        r.push_back(as_bytes(q.lo()));
        r.push_back(as_bytes(q.step()));
      }
      add_rows(tag_codes, codes);
      if (m != metric::ip) add_rows(m == metric::l2 ? tag_l2_norms : tag_norms, norms);
    }
    if (!trained || rerank) add_rows(tag_f32, raw);
  }

  /// KEY_ and ATR_ (docs/format.md): spans into the key table and the columns. The small fields
  /// between the arrays (field count, names, kinds, dictionary and pool sizes) gather in a staged
  /// buffer of `owned_` (allocated up front, 1 + 3 per field, and never resized) that becomes a span
  /// when the next array, or the end, comes. Plain member calls rather than lambdas: this code is
  /// compiled once for every store and stays small in the WASM build.
  POCKETVEC_COLD void add_records(const attributes& a, const key_table& k) {
    if (!k.empty()) {
      auto& p = add(tag_keys);
      p.push_back(as_bytes(std::span<const std::uint32_t>(k.ends())));
      p.push_back(bytes_of(k.bytes()));
    }
    if (a.empty()) return;
    attrs_pieces_ = &add(tag_attrs);
    owned_.assign(1 + 3 * a.field_count(), {});
    owned_used_ = 1;
    put_u32(static_cast<std::uint32_t>(a.field_count()));
    for (const column& c : a.columns()) {
      put_u32(static_cast<std::uint32_t>(c.name.size()));
      put_bytes(bytes_of(c.name));
      const std::uint8_t kind = static_cast<std::uint8_t>(c.kind);
      put_bytes({&kind, 1});
      const bool listed = c.kind == value_kind::string_list;
      if (c.kind == value_kind::string || listed) {
        put_u32(static_cast<std::uint32_t>(c.dict.size()));
        piece(as_bytes(std::span<const std::uint32_t>(c.dict.ends())));
        piece(bytes_of(c.dict.bytes()));
      }
      if (c.kind != value_kind::string) piece(as_bytes(std::span<const std::uint64_t>(c.present)));
      if (c.kind == value_kind::string) piece(as_bytes(std::span<const std::uint32_t>(c.codes)));
      if (c.kind == value_kind::number) piece(as_bytes(std::span<const double>(c.numbers)));
      if (c.kind == value_kind::boolean) piece(as_bytes(std::span<const std::uint64_t>(c.truth)));
      if (listed) {
        piece(as_bytes(std::span<const std::uint32_t>(c.list_offset)));
        piece(as_bytes(std::span<const std::uint32_t>(c.list_count)));
        put_u32(static_cast<std::uint32_t>(c.pool.size()));
        piece(as_bytes(std::span<const std::uint32_t>(c.pool)));
      }
    }
    flush_small();
  }
  static std::span<const std::uint8_t> bytes_of(const std::string& s) noexcept {
    return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
  }
  POCKETVEC_COLD void put_bytes(std::span<const std::uint8_t> b) {
    std::vector<std::uint8_t>& o = owned_[owned_used_ - 1];
    o.insert(o.end(), b.begin(), b.end());
  }
  void put_u32(std::uint32_t v) {
    std::uint8_t le[4];
    std::memcpy(le, &v, 4);
    put_bytes(le);
  }
  /// The staged small fields become a piece (if there are any), and the next buffer is opened.
  POCKETVEC_COLD void flush_small() {
    if (owned_[owned_used_ - 1].empty()) return;
    attrs_pieces_->push_back(owned_[owned_used_ - 1]);
    ++owned_used_;
  }
  void piece(std::span<const std::uint8_t> s) {
    flush_small();
    attrs_pieces_->push_back(s);
  }

  /// node_ = node v's LNK_ bytes: per level, u16 count then the u32 slots (RLK_: v itself first).
  POCKETVEC_COLD void encode_node(slot_t v, bool with_slot = false) {
    node_.clear();
    if (with_slot) {
      node_.resize(4);
      std::memcpy(node_.data(), &v, 4);
    }
    for (int l = 0; l <= g_->level(v); ++l) {
      const auto nb = g_->neighbors(v, l);
      const std::size_t at = node_.size();
      node_.resize(at + 2 + 4 * nb.size());
      const auto count = static_cast<std::uint16_t>(nb.size());
      std::memcpy(node_.data() + at, &count, 2);
      std::uint8_t* out = node_.data() + at + 2;
      for (slot_t t : nb) {
        std::memcpy(out, &t, 4);
        out += 4;
      }
    }
  }

  /// Moves to the next run of bytes: a section header, the next encoded node inside LNK_, or the
  /// next payload span. False at the end of the file.
  POCKETVEC_COLD bool advance() {
    off_ = 0;
    while (sec_ < sections_.size()) {
      const section& s = sections_[sec_];
      if (!head_done_) {
        head_done_ = true;
        piece_ = next_node_ = 0;
        cur_ = s.head;
        return true;
      }
      if (s.tag == tag_links && first_ + next_node_ < g_->size()) {
        encode_node(static_cast<slot_t>(first_ + next_node_++));
        cur_ = node_;
        return true;
      }
      if (s.tag == tag_relinks && next_node_ < relinks_.size()) {
        encode_node(relinks_[next_node_++], true);
        cur_ = node_;
        return true;
      }
      if (piece_ < s.pieces.size()) {
        cur_ = s.pieces[piece_++];
        return true;
      }
      ++sec_;
      head_done_ = false;
    }
    cur_ = {};
    return false;
  }

  const graph* g_;
  std::size_t first_ = 0;         // a segment: the first new slot (its base's count); else 0
  bool segment_ = false;
  std::vector<slot_t> relinks_;   // a segment: the older slots whose lists changed
  save_point point_;
  std::vector<std::uint8_t> header_;  // (a segment's envelope, then) the 96-byte header
  std::vector<section> sections_;
  std::uint64_t total_ = 0;
  // read() position: the bytes being copied (cur_ from off_); the file header first, then section
  // sec_ (its header once head_done_, then its nodes or pieces).
  std::span<const std::uint8_t> cur_;
  std::size_t off_ = 0, sec_ = 0, piece_ = 0, next_node_ = 0;
  bool head_done_ = false;
  std::vector<std::uint8_t> node_;
  std::vector<std::vector<std::uint8_t>> owned_;  // ATR_'s small fields, see add_records()
  std::size_t owned_used_ = 0;
  std::vector<std::span<const std::uint8_t>>* attrs_pieces_ = nullptr;
};

struct header_fields {
  index_params params;
  std::uint16_t minor = 0;
  std::uint8_t flags = 0;
  std::uint64_t count = 0, deleted = 0, levels_drawn = 0;
  std::uint64_t encoded = 0, clamped = 0;  // 1.1: SQ8 components encoded / clamped since training
  id_t next_id = 0;
};

POCKETVEC_COLD inline header_fields read_header(byte_reader& r) {
  auto head = r.take(format_header_bytes, "header");
  if (std::memcmp(head.data(), "PVEC", 4) != 0) corrupt("not a pocketvec index (bad magic)");
  // The checksum first: a damaged version field is damage, not a newer format. (Every major keeps
  // the 96-byte header with its CRC at offset 92 for this reason.)
  std::uint32_t stored_crc;
  std::memcpy(&stored_crc, head.data() + format_header_bytes - 4, 4);
  if (crc32c::of(head.first(format_header_bytes - 4)) != stored_crc) corrupt("header checksum mismatch");
  byte_reader h(head.subspan(4));
  const auto major = h.get<std::uint16_t>("version");
  const auto minor = h.get<std::uint16_t>("version");
  // A newer minor adds sections this reader would take for corruption: say what it is instead.
  if (major > format_major || (major == format_major && minor > format_minor))
    fail(errc::unsupported_version, "index bytes use format " + std::to_string(major) + "." +
                                        std::to_string(minor) + "; this reader understands " +
                                        std::to_string(format_major) + ".0 to " +
                                        std::to_string(format_major) + "." + std::to_string(format_minor));
  if (major == 0) corrupt("format version 0");

  header_fields f;
  f.minor = minor;
  const auto m = h.get<std::uint8_t>("metric");
  const auto q = h.get<std::uint8_t>("quantization");
  f.flags = h.get<std::uint8_t>("flags");
  h.get<std::uint8_t>("reserved");
  if (m > 2) corrupt("unknown metric " + std::to_string(m));
  if (q > 1) corrupt("unknown quantization " + std::to_string(q));
  f.params.metric_kind = static_cast<metric>(m);
  f.params.quant = static_cast<quantization>(q);
  f.params.dim = h.get<std::uint32_t>("dim");
  f.params.m = h.get<std::uint32_t>("m");
  f.params.ef_construction = h.get<std::uint32_t>("ef_construction");
  f.params.ef_search = h.get<std::uint32_t>("ef_search");
  f.params.seed = h.get<std::uint64_t>("seed");
  f.params.compact_threshold = h.get<float>("compact_threshold");
  f.params.sq8_training_size = h.get<std::uint32_t>("sq8_training_size");
  f.params.sq8_rerank = (f.flags & flag_rerank) != 0;
  f.count = h.get<std::uint64_t>("count");
  f.deleted = h.get<std::uint64_t>("deleted count");
  f.next_id = h.get<std::uint32_t>("next id");
  h.get<std::uint32_t>("reserved");
  f.levels_drawn = h.get<std::uint64_t>("levels drawn");
  if (minor >= 1) {
    f.encoded = h.get<std::uint64_t>("encoded components");
    f.clamped = h.get<std::uint64_t>("clamped components");
    if (f.clamped > f.encoded) corrupt("more clamped components than encoded ones");
    if ((f.flags & flag_trained) == 0 && f.encoded != 0) corrupt("clamping counts on an untrained store");
  }
  const std::uint8_t known = minor >= 2 ? (flag_rerank | flag_trained | flag_keys | flag_attrs) : (flag_rerank | flag_trained);
  if ((f.flags & ~known) != 0) corrupt("unknown flags");
  if (q == 0 && (f.flags & (flag_rerank | flag_trained)) != 0) corrupt("SQ8 flags set on an f32 index");
  try {
    check_params(f.params);
  } catch (const error& e) {
    corrupt(std::string("bad parameters: ") + e.what());
  }
  if (f.count >= no_slot) corrupt("node count " + std::to_string(f.count) + " out of range");
  if (f.deleted > f.count) corrupt("more deleted nodes than nodes");
  return f;
}

/// Appends bytes to a vector of T that will hold `total` bytes (the section's length; a value may
/// span two pieces). Capacity doubles with the bytes that arrive, capped at `total`, so it ends
/// exact whatever the pieces, and never runs ahead of the bytes by more than they add up to.
template <class T>
void append_bytes(std::vector<T>& v, std::size_t& filled, std::span<const std::uint8_t> b, std::uint64_t total) {
  const std::size_t need = (filled + b.size() + sizeof(T) - 1) / sizeof(T);
  if (need > v.capacity())
    v.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(total / sizeof(T), std::max(need, 2 * v.capacity()))));
  v.resize(need);
  std::memcpy(reinterpret_cast<std::uint8_t*>(v.data()) + filled, b.data(), b.size());
  filled += b.size();
}

/// The largest |v[i]| of v[0..n) as its IEEE bits (a NaN or infinity is >= 0x7F800000): one pass,
/// no branch per element.
POCKETVEC_NOINLINE inline std::uint32_t max_abs_bits(const float* v, std::size_t n) noexcept {
  std::uint32_t m = 0;
  for (std::size_t i = 0; i < n; ++i) {
    std::uint32_t bits;
    std::memcpy(&bits, v + i, 4);
    bits &= 0x7FFFFFFFu;
    m = bits > m ? bits : m;
  }
  return m;
}

/// Whether some |v[i]| has IEEE bits above `limit` (< 2^31; a NaN's are above every finite value's).
/// `limit - bits` wraps to a set top bit exactly when bits > limit, so the test is mask, subtract and
/// OR, sixteen bytes at a time (GCC/clang vector types: SSE2, NEON, WASM SIMD): the loader's row
/// check at memory speed.
POCKETVEC_NOINLINE inline bool any_abs_bits_above(const float* v, std::size_t n, std::uint32_t limit) noexcept {
  std::uint32_t acc = 0, bits;
  std::size_t i = 0;
#if defined(__GNUC__) || defined(__clang__)
  typedef std::uint32_t u32x4 __attribute__((vector_size(16)));
  u32x4 a = {}, b = {};
  for (; i + 8 <= n; i += 8) {
    u32x4 x, y;
    std::memcpy(&x, v + i, 16);
    std::memcpy(&y, v + i + 4, 16);
    a |= limit - (x & 0x7FFFFFFFu);
    b |= limit - (y & 0x7FFFFFFFu);
  }
  a |= b;
  acc = a[0] | a[1] | a[2] | a[3];
#endif
  for (; i < n; ++i) {
    std::memcpy(&bits, v + i, 4);
    acc |= limit - (bits & 0x7FFFFFFFu);
  }
  return (acc & 0x80000000u) != 0;
}

inline bool any_non_finite(const float* v, std::size_t n) noexcept { return max_abs_bits(v, n) >= 0x7F800000u; }

/// The push parser behind load() and chunked_reader. Bytes arrive in pieces of any size and go
/// straight into the arrays the index will own (ids, tombstones, graph, row blocks); each check is
/// made as soon as its bytes are in, each section's checksum when its last byte is. Nothing is
/// allocated ahead of the bytes that justify it (the graph: of LVL_'s n levels). finish() builds the
/// index; before it, nothing exists outside the parser. Any defect throws errc::corrupt_data (or
/// unsupported_version) and leaves the parser refusing every later call.
class stream_parser {
 public:
  /// Consumes `b` (any length, including 0).
  POCKETVEC_COLD void feed(std::span<const std::uint8_t> b) {
    if (failed_) corrupt("an earlier piece was refused");
    try {
      while (!b.empty()) b = step(b);
    } catch (...) {
      failed_ = true;
      throw;
    }
  }

  /// Bytes fed so far.
  std::uint64_t size() const noexcept { return fed_; }

  /// The index, once the last section is complete. Single use.
  POCKETVEC_COLD index finish() {
    if (failed_) corrupt("an earlier piece was refused");
    failed_ = true;
    if (phase_ == phase::header) corrupt("truncated while reading header");
    if (phase_ == phase::envelope) corrupt("truncated while reading a segment's header");
    if (sec_ < planned_)
      corrupt(std::string(phase_ == phase::payload ? "truncated in " : "truncated while reading ") +
              plan_[sec_].name);
    switch (f_.params.metric_kind) {
      case metric::l2: return build<metric::l2>();
      case metric::cosine: return build<metric::cosine>();
      case metric::ip: return build<metric::ip>();
    }
    corrupt("unknown metric");
  }

  /// Segments read so far (docs/format.md, "Segments").
  std::size_t segments() const noexcept { return segments_; }

  /// Gives `idx` (what finish() built) the state read as its save point, so that incremental saves
  /// extend it (not after a 1.0 file: its l2 SQ8 norms are of another kind).
  POCKETVEC_COLD void set_save_point(index& idx) const {
    if (base_minor_ >= 1) idx.saved({digest_, f_.count, (f_.flags & flag_trained) != 0, 0, idx.owner(), true});
  }

 private:
  enum class phase : std::uint8_t { header, section_head, payload, envelope };
  enum class kind : std::uint8_t { ids, deleted, levels, links, ranges, codes, norms, f32, keys, attrs, relinks };
  struct expected {
    std::uint32_t tag;
    const char* name;
    kind what;
    std::uint64_t length;  // ignored for LNK_ (its counts say), KEY_ and ATR_ (their contents say)
  };
  static bool sized(kind k) noexcept {
    return k != kind::links && k != kind::keys && k != kind::attrs && k != kind::relinks;
  }

  /// Consumes a prefix of `b`; returns the rest.
  POCKETVEC_COLD std::span<const std::uint8_t> step(std::span<const std::uint8_t> b) {
    if (phase_ == phase::payload) {
      // At most grain_ bytes at a time, so the copy and the checks find in cache what the checksum
      // has just read, whatever the size of the caller's piece (load() passes the whole file).
      // A row split by the caller's pieces waits in carry_: this step completes it, then whole rows.
      const std::size_t grain = row_ && !carry_.empty() ? grain_ + row_ - carry_.size() : grain_;
      const std::size_t k = static_cast<std::size_t>(std::min<std::uint64_t>(std::min<std::uint64_t>(left_, b.size()), grain));
      const auto piece = b.first(k);
      crc_.update(piece.data(), k);
      consume(piece);
      left_ -= k;
      fed_ += k;
      if (left_ == 0) end_section();
      return b.subspan(k);
    }
    if (phase_ == phase::section_head && sec_ == planned_) phase_ = phase::envelope;  // a segment, or junk
    const std::size_t want = phase_ == phase::header     ? format_header_bytes
                             : phase_ == phase::envelope ? segment_envelope_bytes + format_header_bytes
                                                         : 16;
    const std::size_t k = std::min(want - small_.size(), b.size());
    small_.insert(small_.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(k));
    fed_ += k;
    // After the last section only a segment may come: refuse anything else in the piece that brings it.
    if (phase_ == phase::envelope && small_.size() - k < 4 &&
        std::memcmp(small_.data(), "PVSG", std::min<std::size_t>(small_.size(), 4)) != 0)
      corrupt(std::to_string(b.size() + small_.size() - k) + " trailing bytes after the last section");
    if (small_.size() == want) {
      if (phase_ == phase::header) {
        byte_reader r(small_);
        f_ = read_header(r);
        base_minor_ = f_.minor;
        if (f_.minor >= 3) corrupt("a file's first header has version 1." + std::to_string(f_.minor) + " (only segments' do)");
        std::memcpy(params_.data(), small_.data() + 8, params_.size());
        digest_ = 0;
        part_ = crc32c();
        part_.update(small_.data() + format_header_bytes - 4, 4);
        plan();
        phase_ = phase::section_head;
      } else if (phase_ == phase::envelope) {
        begin_segment();
        phase_ = phase::section_head;
      } else {
        begin_section();
      }
      small_.clear();
    }
    return b.subspan(k);
  }

  void expect(const expected& e) noexcept { plan_[planned_++] = e; }

  /// A segment's envelope and header are in small_: check that it extends what was read, and that
  /// only what may change changed; then plan its sections.
  POCKETVEC_COLD void begin_segment() {
    std::uint32_t prev;
    std::memcpy(&prev, small_.data() + 4, 4);
    if (base_minor_ < 1) corrupt("a segment follows a format 1.0 file");
    if (prev != digest_) corrupt("segment " + std::to_string(segments_ + 1) + " does not extend the bytes before it");
    const std::uint8_t* head = small_.data() + segment_envelope_bytes;
    byte_reader r({head, format_header_bytes});
    const header_fields old = f_;
    header_fields h = read_header(r);
    if (h.minor < 3) corrupt("a segment's header has version 1." + std::to_string(h.minor));
    // The parameters as bytes: metric, quantization (8, 9), the SQ8 flag bits, dim .. training size (12 .. 43).
    if (std::memcmp(head + 8, params_.data(), 2) != 0 || std::memcmp(head + 12, params_.data() + 4, 32) != 0 ||
        ((head[10] ^ params_[2]) & (flag_rerank | flag_trained)) != 0)
      corrupt("a segment changes the index's parameters");
    if (h.count < old.count || h.next_id < old.next_id || h.levels_drawn < old.levels_drawn ||
        h.encoded < old.encoded || h.clamped < old.clamped)
      corrupt("a segment goes back on counts its base holds");
    first_ = static_cast<std::size_t>(old.count);
    f_ = h;
    ++segments_;
    part_ = crc32c();
    part_.update(small_.data() + 4, 4);
    part_.update(small_.data() + segment_envelope_bytes + format_header_bytes - 4, 4);
    // Keys and metadata come whole, or not at all when the index no longer holds any.
    keys_ = key_table();
    attrs_ = attributes();
    sec_ = planned_ = 0;
    plan();
  }

  /// The sections the header implies, in file order (docs/format.md).
  POCKETVEC_COLD void plan() {
    // A segment's row sections hold the new slots first_..n only; DEL_, KEY_ and ATR_ cover all n.
    const std::uint64_t all = f_.count, n = all - first_, d = f_.params.dim;
    const bool segment = segments_ != 0;
    expect({tag_ids, "IDS_", kind::ids, checked_mul(n, 4, "IDS_")});
    expect({tag_deleted, "DEL_", kind::deleted, (all + 63) / 64 * 8});
    expect({tag_levels, "LVL_", kind::levels, n});
    expect({tag_links, "LNK_", kind::links, 0});
    if (segment) expect({tag_relinks, "RLK_", kind::relinks, 0});
    const bool trained = (f_.flags & flag_trained) != 0;
    const metric m = f_.params.metric_kind;
    if (f_.params.quant == quantization::sq8) {
      if (!trained && all >= f_.params.sq8_training_size)
        corrupt("untrained SQ8 store holds as many vectors as its training size");
      if (trained) {
        if (!segment) expect({tag_ranges, "SQR_", kind::ranges, checked_mul(d, 8, "SQR_")});
        expect({tag_codes, "SQC_", kind::codes, checked_mul(n, d, "SQC_")});
        if (m != metric::ip) {
          const bool relative = m == metric::l2 && f_.minor >= 1;
          expect({relative ? tag_l2_norms : tag_norms, relative ? "SQD_" : "SQN_", kind::norms,
                           checked_mul(n, 4, "SQN_")});
        }
      }
    }
    if (f_.params.quant != quantization::sq8 || !trained || f_.params.sq8_rerank)
      expect({tag_f32, "F32_", kind::f32, checked_mul(checked_mul(n, d, "F32_"), 4, "F32_")});
    if (f_.flags & flag_keys) expect({tag_keys, "KEY_", kind::keys, 0});
    if (f_.flags & flag_attrs) expect({tag_attrs, "ATR_", kind::attrs, 0});
  }

  POCKETVEC_COLD void begin_section() {
    const expected& e = plan_[sec_];
    std::uint32_t t;
    std::uint64_t len;
    std::memcpy(&t, small_.data(), 4);
    std::memcpy(&len, small_.data() + 4, 8);
    std::memcpy(&want_crc_, small_.data() + 12, 4);
    if (t != e.tag) corrupt(std::string("expected section ") + e.name);
    if (sized(e.what) && len != e.length)
      corrupt(std::string("section ") + e.name + " has " + std::to_string(len) + " bytes, expected " +
              std::to_string(e.length));
    const std::size_t n = static_cast<std::size_t>(f_.count), d = f_.params.dim;
    const bool segment = segments_ != 0;
    // Row blocks get their first block whole (at most 64 KiB ahead of the bytes), as a whole-file
    // load would size it, so the pieces never change the memory the index ends up with. A
    // segment's rows go on after its base's.
    auto first_block = [n](auto& rows) { rows.reserve(std::min(n, rows.rows_per_block())); };
    filled_ = 0;
    switch (e.what) {
      case kind::ids: filled_ = 4 * ids_.size(); break;
      case kind::levels: filled_ = levels_.size(); break;
      case kind::deleted: deleted_.clear(); break;
      case kind::codes: if (!segment) first_block(codes_ = row_blocks<std::uint8_t>(d)); break;
      case kind::norms: if (!segment) first_block(norms_ = row_blocks<float>(1)); break;
      case kind::f32: if (!segment) first_block(rows_ = row_blocks<float>(d)); break;
      case kind::links:
        node_ = first_;
        level_ = 0;
        // Every node has a count at level 0: fewer bytes cannot hold the lists.
        if (len < checked_mul(n - first_, 2, "LNK_")) corrupt("truncated while reading LNK_");
        break;
      case kind::relinks:
        have_slot_ = false;
        next_relink_ = 0;
        break;
      case kind::keys:
        if (len < checked_mul(n, 4, "KEY_")) corrupt("KEY_ is shorter than its end offsets");
        break;
      default: break;
    }
    // Whole rows per step where a section holds rows (a row split between steps costs a copy).
    row_ = e.what == kind::f32 ? 4 * d : e.what == kind::codes ? d : 0;
    grain_ = row_ && row_ <= step_bytes ? step_bytes / row_ * row_ : step_bytes;
    filled_base_ = filled_;
    sec_len_ = len;
    records_.clear();
    crc_ = crc32c();
    left_ = len;
    phase_ = phase::payload;
    if (left_ == 0) end_section();
  }

  POCKETVEC_COLD void consume(std::span<const std::uint8_t> b) {
    switch (plan_[sec_].what) {
      case kind::ids: append_bytes(ids_, filled_, b, filled_base_ + plan_[sec_].length); break;
      case kind::deleted: append_bytes(deleted_, filled_, b, plan_[sec_].length); break;
      case kind::levels: append_bytes(levels_, filled_, b, filled_base_ + plan_[sec_].length); break;
      case kind::ranges: append_bytes(ranges_, filled_, b, plan_[sec_].length); break;
      case kind::links:
      case kind::relinks: consume_links(b); break;
      case kind::keys:
      case kind::attrs: append_bytes(records_, filled_, b, sec_len_); break;
      case kind::codes: consume_rows(codes_, b, [](const std::uint8_t*, std::size_t) {}); break;
      case kind::norms:
        consume_rows(norms_, b, [](const float* x, std::size_t) {
          if (std::isnan(*x) || *x < 0) corrupt("NaN or negative norm in SQN_/SQD_");
        });
        break;
      case kind::f32: {
        const std::size_t d = f_.params.dim;
        const bool bounded = f_.params.metric_kind != metric::cosine;
        // Rows whose every |component| is below `small` are far inside insert()'s length limit
        // (d·small² is half of it), so only the others pay for insert()'s exact check.
        const float small = static_cast<float>(std::sqrt(max_squared_length / 2 / static_cast<double>(d)));
        std::uint32_t small_bits;
        std::memcpy(&small_bits, &small, 4);
        // The common row passes one test: every component finite (cosine), or every one below `small`.
        const std::uint32_t limit = bounded ? small_bits : 0x7F7FFFFFu;
        consume_rows(rows_, b, [d, bounded, limit](const float* v, std::size_t s) {
          if (!any_abs_bits_above(v, d, limit)) return;
          if (max_abs_bits(v, d) >= 0x7F800000u) corrupt("non-finite value in F32_");
          // Only vectors insert() would take: past this length l2/ip distances overflow float.
          if (!bounded) return;
          double n2 = 0;
          for (std::size_t i = 0; i < d; ++i) n2 += double{v[i]} * v[i];
          if (n2 > max_squared_length) corrupt("vector at slot " + std::to_string(s) + " in F32_ is too large");
        });
        break;
      }
    }
  }

  /// Whole rows go straight into `rows` (a row split between pieces waits in carry_); check(row,
  /// slot) sees each row once it is stored.
  template <class T, class Check>
  POCKETVEC_NOINLINE void consume_rows(row_blocks<T>& rows, std::span<const std::uint8_t> b, Check&& check) {
    const std::size_t row_bytes = rows.stride() * sizeof(T);
    if (!carry_.empty()) {
      const std::size_t k = std::min(row_bytes - carry_.size(), b.size());
      carry_.insert(carry_.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(k));
      b = b.subspan(k);
      if (carry_.size() < row_bytes) return;
      rows.append_rows(carry_.data(), 1);
      carry_.clear();
      check(rows.row(rows.size() - 1), rows.size() - 1);
    }
    const std::size_t whole = b.size() / row_bytes, first = rows.size();
    rows.append_rows(b.data(), whole);
    for (std::size_t r = first; r < rows.size(); ++r) check(rows.row(r), r);
    carry_.assign(b.begin() + static_cast<std::ptrdiff_t>(whole * row_bytes), b.end());
  }

  /// LNK_: per node and level a u16 count, then count u32 slots, each checked against the levels.
  /// RLK_: the same, each node's lists after its u32 slot (older slots, ascending).
  POCKETVEC_COLD void consume_links(std::span<const std::uint8_t> b) {
    const std::size_t n = static_cast<std::size_t>(f_.count);
    const bool relink = plan_[sec_].what == kind::relinks;
    while (!b.empty()) {
      if (!relink && node_ >= n) corrupt("trailing bytes in LNK_");
      const std::size_t need = relink && !have_slot_ ? 4 : have_count_ ? 4 * std::size_t{count_} : 2;
      const std::uint8_t* item = b.data();
      if (carry_.empty() && b.size() >= need) {
        b = b.subspan(need);
      } else {
        const std::size_t k = std::min(need - carry_.size(), b.size());
        carry_.insert(carry_.end(), b.begin(), b.begin() + static_cast<std::ptrdiff_t>(k));
        b = b.subspan(k);
        if (carry_.size() < need) return;
        item = carry_.data();
      }
      if (relink && !have_slot_) {
        std::uint32_t s;
        std::memcpy(&s, item, 4);
        carry_.clear();
        if (s >= first_ || s < next_relink_)
          corrupt("RLK_ names slot " + std::to_string(s) + " (older slots only, each once, ascending)");
        node_ = s;
        next_relink_ = std::size_t{s} + 1;
        level_ = 0;
        have_slot_ = true;
        continue;
      }
      if (!have_count_) {
        std::memcpy(&count_, item, 2);
        carry_.clear();
        if (count_ > links_.capacity(level_))
          corrupt("node " + std::to_string(node_) + " has " + std::to_string(count_) + " neighbours at level " +
                  std::to_string(level_));
        if (count_ != 0) {  // its slots come next
          have_count_ = true;
          continue;
        }
      }
      set_list(item);  // (item may point into carry_: cleared after)
      carry_.clear();
    }
  }

  /// Checks and stores node_'s list at level_ from `slots` (count_ u32s), then moves to the next list.
  POCKETVEC_COLD void set_list(const std::uint8_t* slots) {
    const std::size_t n = static_cast<std::size_t>(f_.count);
    nb_.resize(count_);
    if (count_) std::memcpy(nb_.data(), slots, 4 * std::size_t{count_});
    const auto self = static_cast<slot_t>(node_);
    bool bad = false;
    if (level_ == 0) {
      for (slot_t t : nb_) bad |= (t >= n) | (t == self);
    } else {
      for (slot_t t : nb_) bad |= (t >= n) || (t == self) || levels_[t] < level_;
    }
    if (bad)
      for (slot_t t : nb_)
        if (t >= n || t == self || levels_[t] < level_)
          corrupt("node " + std::to_string(node_) + " has invalid neighbour " + std::to_string(t));
    links_.set_neighbors(self, level_, nb_);
    have_count_ = false;
    if (++level_ > levels_[node_]) {
      level_ = 0;
      ++node_;
      have_slot_ = false;  // RLK_: the next entry's slot comes next
    }
  }

  /// A section's last byte is in: its checksum, then what needs the whole section.
  POCKETVEC_COLD void end_section() {
    const expected& e = plan_[sec_];
    if (crc_.value() != want_crc_) corrupt(std::string("checksum mismatch in section ") + e.name);
    switch (e.what) {
      case kind::deleted: check_ids(); break;
      case kind::levels: add_nodes(); break;
      case kind::links:
        if (node_ < f_.count) corrupt("truncated while reading LNK_");
        break;
      case kind::relinks:
        if (have_slot_ || have_count_ || !carry_.empty()) corrupt("truncated while reading RLK_");
        break;
      case kind::ranges: check_ranges(); break;
      case kind::keys: read_keys(); break;
      case kind::attrs: read_attrs(); break;
      default: break;
    }
    carry_.clear();
    part_.update(reinterpret_cast<const std::uint8_t*>(&want_crc_), 4);
    if (++sec_ == planned_) digest_ = part_.value();  // the part is complete: what a segment extends
    phase_ = phase::section_head;
  }

  POCKETVEC_COLD void check_ids() {
    const std::size_t n = static_cast<std::size_t>(f_.count);
    std::uint64_t popcount = 0;
    for (auto w : deleted_) popcount += static_cast<std::uint64_t>(std::popcount(w));
    if (n % 64 && !deleted_.empty() && (deleted_.back() >> (n % 64)) != 0)
      corrupt("tombstone bits set past the last node");
    if (popcount != f_.deleted) corrupt("tombstone count does not match the bitset");
    // One pass finds the common case (ids ascending in slot order: no id can repeat) without a map.
    bool ascending = true;
    id_t top = 0;
    for (std::size_t s = 0; s < n; ++s) {
      ascending &= s == 0 || ids_[s] > ids_[s - 1];
      top = std::max(top, ids_[s]);
    }
    // Since 1.1 next_id lies above every id ever used; 1.0 files get that repaired in build().
    if (f_.minor >= 1 && n != 0 && top >= f_.next_id)
      for (id_t id : ids_)
        if (id >= f_.next_id) corrupt("id " + std::to_string(id) + " is not below the next id");
    if (n != 0 && top == invalid_id)
      for (std::size_t s = 0; s < n; ++s)
        if (ids_[s] == invalid_id) corrupt("reserved id at slot " + std::to_string(s));
    if (ascending) return;
    // upsert() tombstones the old slot of an id and appends a new one, so until compaction an id
    // may own several slots: all of them but the last must be tombstoned (the last one is what the
    // id names; basic_index rebuilds its id map with the last slot winning).
    id_map seen;
    seen.reserve(n);
    for (slot_t s = 0; s < n; ++s) {
      const id_t id = ids_[s];
      const slot_t prev = seen.find(id);
      if (prev != no_slot && ((deleted_[prev / 64] >> (prev % 64)) & 1u) == 0)
        corrupt("duplicate id " + std::to_string(id) + " at slots " + std::to_string(prev) + " and " +
                std::to_string(s) + ", the first not deleted");
      seen.set(id, s);
    }
  }

  POCKETVEC_COLD void add_nodes() {
    const auto fresh = std::span<const std::uint8_t>(levels_).subspan(first_);  // a segment's new nodes
    std::uint8_t top = 0;
    for (std::uint8_t l : fresh) top = std::max(top, l);
    if (top > max_level)
      for (std::uint8_t l : fresh)
        if (l > max_level) corrupt("node level " + std::to_string(l) + " above the maximum");
    if (segments_ == 0) links_ = graph(f_.params.m);
    links_.reserve(levels_.size());
    for (std::uint8_t l : fresh) links_.add_node(l);
  }

  POCKETVEC_COLD void check_ranges() {
    const std::size_t d = f_.params.dim;
    if (any_non_finite(ranges_.data(), ranges_.size())) corrupt("non-finite value in SQR_");
    for (std::size_t i = 0; i < d; ++i) {
      const double lo = ranges_[i], step = ranges_[d + i];
      if (step < 0 || !std::isfinite(lo + 255.0 * step) ||
          std::abs(lo + 255.0 * step) > std::numeric_limits<float>::max())
        corrupt("SQ8 range of dimension " + std::to_string(i) + " is invalid");
    }
  }

  /// KEY_: n end offsets, then the bytes; key_table::from_parts checks them against the tombstones.
  POCKETVEC_COLD void read_keys() {
    const std::size_t n = static_cast<std::size_t>(f_.count);
    byte_reader r(records_);
    const auto head = r.take(4 * std::uint64_t{n}, "KEY_");
    std::vector<std::uint32_t> ends(n);
    if (n) std::memcpy(ends.data(), head.data(), 4 * n);
    const auto rest = r.take(r.remaining(), "KEY_");
    std::string bytes(reinterpret_cast<const char*>(rest.data()), rest.size());
    std::vector<std::uint8_t>().swap(records_);
    try {
      keys_ = key_table::from_parts(n, std::move(ends), std::move(bytes), deleted_);
    } catch (const error& e) {
      corrupt(std::string("KEY_: ") + e.what());
    }
  }

  /// ATR_: the field count, then per field its name, kind and arrays (docs/format.md). Every length
  /// is checked here; attributes::from_parts checks what the values mean.
  POCKETVEC_COLD void read_attrs() {
    const std::size_t n = static_cast<std::size_t>(f_.count);
    byte_reader r(records_);
    try {
      const auto fields = r.get<std::uint32_t>("ATR_ field count");
      if (fields == 0 || fields > max_fields) corrupt("ATR_ holds " + std::to_string(fields) + " fields (1 to 1024)");
      std::vector<column> cols(fields);
      for (column& c : cols) {
        const auto len = r.get<std::uint32_t>("ATR_ field name");
        if (len == 0 || len > 255) corrupt("ATR_: a field name of " + std::to_string(len) + " bytes");
        const auto name = r.take(len, "ATR_ field name");
        c.name.assign(reinterpret_cast<const char*>(name.data()), name.size());
        const auto k = r.get<std::uint8_t>("ATR_ field kind");
        if (k < 1 || k > 4) corrupt("ATR_: field " + c.name + " has unknown kind " + std::to_string(k));
        c.kind = static_cast<value_kind>(k);
        const bool listed = c.kind == value_kind::string_list;
        if (c.kind == value_kind::string || listed) c.dict = read_dict(r, c.name);
        if (c.kind != value_kind::string) read_array(r, c.present, (n + 63) / 64);
        if (c.kind == value_kind::string) read_array(r, c.codes, n);
        if (c.kind == value_kind::number) read_array(r, c.numbers, n);
        if (c.kind == value_kind::boolean) read_array(r, c.truth, (n + 63) / 64);
        if (listed) {
          read_array(r, c.list_offset, n);
          read_array(r, c.list_count, n);
          read_array(r, c.pool, r.get<std::uint32_t>("ATR_ pool size"));
        }
      }
      if (r.remaining() != 0) corrupt(std::to_string(r.remaining()) + " trailing bytes in ATR_");
      std::vector<std::uint8_t>().swap(records_);
      attrs_ = attributes::from_parts(n, std::move(cols));
    } catch (const error& e) {
      if (e.code() != errc::corrupt_data) throw;
      const std::string what = e.what();
      if (what.rfind("corrupt index bytes: ", 0) == 0) throw;
      corrupt("ATR_: " + what);
    }
  }
  /// `count` values of T from `r` into `v`: the bytes are taken (bounds-checked) before `v` grows.
  template <class T>
  static void read_array(byte_reader& r, std::vector<T>& v, std::size_t count) {
    read_raw(r, &v, count, sizeof(T), [](void* p, std::size_t c) { static_cast<std::vector<T>*>(p)->resize(c); },
             [](void* p) { return static_cast<void*>(static_cast<std::vector<T>*>(p)->data()); });
  }
  POCKETVEC_COLD static void read_raw(byte_reader& r, void* v, std::size_t count, std::size_t width,
                                      void (*resize)(void*, std::size_t), void* (*data)(void*)) {
    const auto b = r.take(checked_mul(count, width, "ATR_"), "ATR_ array");
    resize(v, count);
    if (count) std::memcpy(data(v), b.data(), b.size());
  }
  /// A dictionary: u32 size, its end offsets, its bytes.
  POCKETVEC_COLD static string_dict read_dict(byte_reader& r, const std::string& field) {
    const auto size = r.get<std::uint32_t>("ATR_ dictionary size");
    std::vector<std::uint32_t> ends;
    read_array(r, ends, size);
    const auto bytes = r.take(ends.empty() ? 0 : ends.back(), "ATR_ dictionary");
    return string_dict::from_parts(std::move(ends), std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size()),
                                   "field " + field);
  }

  template <metric M>
  POCKETVEC_COLD index build() {
    links_.validate_shape();  // set_list checked every list as it came
    if (f_.params.quant == quantization::sq8) return assemble(sq8_store<M>::from_parts(take_sq8_parts()));
    return assemble(f32_store<M>(f_.params.dim, std::move(rows_)));
  }

  /// The SQ8 store's arrays (the same for every metric).
  POCKETVEC_COLD sq8_parts take_sq8_parts() {
    sq8_parts p;
    const std::size_t d = f_.params.dim;
    p.dim = d;
    p.training_size = f_.params.sq8_training_size;
    p.rerank = f_.params.sq8_rerank;
    p.trained = (f_.flags & flag_trained) != 0;
    if (p.trained) {
      p.lo.assign(ranges_.begin(), ranges_.begin() + static_cast<std::ptrdiff_t>(d));
      p.step.assign(ranges_.begin() + static_cast<std::ptrdiff_t>(d), ranges_.end());
      p.codes = std::move(codes_);
      // 1.0 stored |x̂|² under l2: from_parts() recomputes the range-relative form from the codes.
      if (f_.params.metric_kind != metric::l2 || f_.minor >= 1) p.norms = std::move(norms_);
      p.encoded = f_.encoded;
      p.clamped = f_.clamped;
    }
    if (!p.trained || p.rerank) p.raw = std::move(rows_);
    return p;
  }

  template <class Store>
  POCKETVEC_COLD index assemble(Store&& store) {
    index_state<Store> st;
    st.next_id = f_.next_id;
    // 1.0 writers could leave next_id at or below an upserted id; fresh ids must never meet one.
    for (id_t id : ids_) st.next_id = std::max(st.next_id, static_cast<id_t>(id + 1));
    st.levels_drawn = f_.levels_drawn;
    st.deleted_count = static_cast<std::size_t>(f_.deleted);
    st.slot_ids = std::move(ids_);
    st.deleted = std::move(deleted_);
    st.links = std::move(links_);
    st.store = std::move(store);
    st.attrs = std::move(attrs_);
    st.keys = std::move(keys_);
    return index(basic_index<Store>(f_.params, std::move(st)));
  }

  header_fields f_;
  std::array<expected, 11> plan_{};  // at most IDS_ DEL_ LVL_ LNK_ RLK_/SQR_ SQC_ SQN_/SQD_ F32_ KEY_ ATR_
  std::size_t planned_ = 0;
  phase phase_ = phase::header;
  bool failed_ = false;
  std::size_t sec_ = 0;        // the section being read (or expected next)
  std::uint64_t left_ = 0;     // payload bytes still to come in it
  static constexpr std::size_t step_bytes = 64 * 1024;
  std::size_t grain_ = step_bytes;  // payload bytes one step() takes at most
  std::size_t row_ = 0;             // bytes per row in a row section (F32_, SQC_), else 0
  std::uint64_t fed_ = 0;
  std::uint32_t want_crc_ = 0;
  crc32c crc_;
  std::vector<std::uint8_t> small_;  // a header being collected
  std::vector<std::uint8_t> carry_;  // a row or link list split between pieces
  std::size_t filled_ = 0;           // bytes of the current array section so far
  std::size_t filled_base_ = 0;      // of which a segment's base held before it
  // Segments: the part being read (its checksums so far), the digest of the last complete part,
  // the base's minor version, the first slot a segment adds, segments begun.
  crc32c part_;
  std::uint32_t digest_ = 0;
  std::array<std::uint8_t, 36> params_{};  // the base header's bytes 8 .. 43 (the parameters)
  std::uint16_t base_minor_ = 0;
  std::size_t first_ = 0, segments_ = 0;
  std::uint64_t sec_len_ = 0;        // the current section's length
  std::vector<std::uint8_t> records_;  // KEY_ or ATR_ as it arrives, parsed when complete
  // The parts of the index, as they fill.
  std::vector<id_t> ids_;
  std::vector<std::uint64_t> deleted_;
  std::vector<std::uint8_t> levels_;
  std::vector<float> ranges_;
  graph links_;
  row_blocks<std::uint8_t> codes_;
  row_blocks<float> norms_, rows_;
  attributes attrs_;
  key_table keys_;
  // LNK_ position: node_, level_, and whether its count (count_) has been read.
  std::size_t node_ = 0;
  int level_ = 0;
  std::uint16_t count_ = 0;
  bool have_count_ = false;
  bool have_slot_ = false;        // RLK_: the entry's slot is read
  std::size_t next_relink_ = 0;   // RLK_: the next entry's slot is at least this
  std::vector<slot_t> nb_;
};

/// What a serializer of `idx` in `mode` extends: nothing (a full file) or idx's save point.
POCKETVEC_COLD inline const save_point* save_base(const index& idx, save_mode mode) {
  if (mode == save_mode::full) return nullptr;
  if (!idx.appendable())
    fail(errc::invalid_argument,
         "an incremental save needs a save point that nothing since has invalidated (see appendable()): save in full");
  return &idx.last_save();
}

}  // namespace detail

/// Serializes `idx`: deterministic, little-endian, checksummed. O(size of the index).
inline std::vector<std::uint8_t> save(const index& idx) {
  return idx.visit([](const auto& core) {
    detail::serializer s(core);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(s.total_bytes()));
    s.read(out.data(), out.size());
    return out;
  });
}

/// save(idx), or with save_mode::append the segment that takes the bytes of idx.last_save() to idx's
/// current state (errc::invalid_argument when !idx.appendable()). `point`, when given, receives
/// the state these bytes describe: pass it to idx.saved() once they are stored.
inline std::vector<std::uint8_t> save(const index& idx, save_mode mode, save_point* point = nullptr) {
  const save_point* base = detail::save_base(idx, mode);
  return idx.visit([&](const auto& core) {
    detail::serializer s(core, base);
    std::vector<std::uint8_t> out(static_cast<std::size_t>(s.total_bytes()));
    s.read(out.data(), out.size());
    if (point) *point = s.point();
    return out;
  });
}

/// Writes the same bytes as save() to a stream, 64 KiB at a time; errc::io_error if the stream fails.
inline void save(const index& idx, std::ostream& os) {
  idx.visit([&](const auto& core) {
    detail::serializer s(core);
    std::vector<std::uint8_t> buf(std::size_t{1} << 16);
    while (const std::size_t k = s.read(buf.data(), buf.size()))
      os.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(k));
  });
  if (!os) detail::fail(errc::io_error, "writing the index to the stream failed");
}

/// Produces the bytes of save() in chunks of a fixed size, copied out of the index's own arrays
/// (the link lists are encoded as they go): memory is one chunk, whatever the index. The index must
/// not change while a writer is alive: next() refuses to go on (errc::invalid_argument) once it has.
class chunked_writer {
 public:
  /// chunk_bytes >= 1 (errc::invalid_argument otherwise). save_mode::append: the segment since
  /// idx.last_save() (errc::invalid_argument when !idx.appendable()), see save(idx, mode).
  explicit chunked_writer(const index& idx, std::size_t chunk_bytes = std::size_t{1} << 20,
                          save_mode mode = save_mode::full) {
    if (chunk_bytes == 0) detail::fail(errc::invalid_argument, "chunk size must be at least 1 byte");
    const save_point* base = detail::save_base(idx, mode);
    idx.visit([&](const auto& core) { ser_ = std::make_unique<detail::serializer>(core, base); });
    idx_ = &idx;
    layout_ = idx.layout();
    chunk_ = static_cast<std::size_t>(std::min<std::uint64_t>(chunk_bytes, ser_->total_bytes()));
  }
  /// The final size, known up front.
  std::uint64_t total_bytes() const noexcept { return ser_->total_bytes(); }
  /// The state the bytes describe: give it to index::saved() once they are stored.
  const save_point& point() const noexcept { return ser_->point(); }

  /// The next chunk (chunk_bytes long, the last one shorter; empty when done). Valid until the
  /// next call or the writer's end.
  /// errc::invalid_argument when the index changed since the writer began (its arrays may have
  /// moved): nothing is read from them then, and the bytes so far must be thrown away.
  std::span<const std::uint8_t> next() {
    if (idx_->layout() != layout_)
      detail::fail(errc::invalid_argument, "the index changed while it was being saved: save again");
    buf_.resize(chunk_);
    return {buf_.data(), ser_->read(buf_.data(), buf_.size())};
  }
  /// The same into `out`; false when done.
  bool next(std::vector<std::uint8_t>& out) {
    const auto c = next();
    out.assign(c.begin(), c.end());
    return !c.empty();
  }

 private:
  std::unique_ptr<detail::serializer> ser_;
  const index* idx_ = nullptr;
  std::uint64_t layout_ = 0;  // idx_->layout() when the writer began
  std::size_t chunk_ = 0;
  std::vector<std::uint8_t> buf_;
};

/// Loads an index from its bytes fed in order, in pieces of any size, with the checks of load():
/// each piece is parsed as it comes, straight into the arrays the index will own, so memory is the
/// index plus at most one row or link list, never a copy of the bytes. feed() throws as soon as the
/// bytes seen are damaged; finish() when they end early. Nothing exists until finish() succeeds;
/// after any throw the reader refuses every call.
class chunked_reader {
 public:
  void feed(std::span<const std::uint8_t> chunk) { p_.feed(chunk); }
  /// Bytes fed so far.
  std::uint64_t size() const noexcept { return p_.size(); }
  /// Segments (incremental saves) met so far.
  std::size_t segments() const noexcept { return p_.segments(); }
  /// The index (whose save point is what was read: see index::appendable()). Single use.
  index finish() {
    index idx = p_.finish();
    p_.set_save_point(idx);
    return idx;
  }

 private:
  detail::stream_parser p_;
};

/// Parses and validates `bytes` completely, then builds the index. Throws on any defect.
inline index load(std::span<const std::uint8_t> bytes) {
  chunked_reader r;
  r.feed(bytes);
  return r.finish();
}

/// Reads the stream to its end in 64 KiB pieces and loads what it read.
inline index load(std::istream& is) {
  chunked_reader r;
  std::vector<char> buf(std::size_t{1} << 16);
  while (is.read(buf.data(), static_cast<std::streamsize>(buf.size())) || is.gcount() > 0)
    r.feed({reinterpret_cast<const std::uint8_t*>(buf.data()), static_cast<std::size_t>(is.gcount())});
  if (is.bad()) detail::fail(errc::io_error, "reading the index from the stream failed");
  return r.finish();
}

inline std::vector<std::uint8_t> index::save() const { return pocketvec::save(*this); }
inline index index::load(std::span<const std::uint8_t> bytes) { return pocketvec::load(bytes); }

}  // namespace pocketvec::POCKETVEC_ABI
