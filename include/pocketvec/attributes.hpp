// pocketvec/attributes.hpp — metadata per vector, stored by column; string keys; their wire format.
//
// `attributes` holds one row per slot (the same slots as the vector store) and one column per field
// name, of the kind the field's first value had: strings as u32 dictionary codes (0 = absent) with
// a per-field dictionary, numbers as f64 plus a presence bitset, booleans as two bitsets, string
// lists as per-row (offset, count) into a pool of codes. `key_table` holds an optional string key
// per slot and finds a key's slot through an open-addressing table that keeps no second copy of
// the strings. Both follow the vector store's transactions: rows are appended, truncated back
// (rollback_batch), compacted in place (compact) or copied over a kept subset (rebuild).
// Changes to a row are staged first (validation, new fields, new dictionary strings, pool codes:
// everything that may throw, undone by unstage()) and committed by a step that cannot fail.
// Everything here is non-template and out of line: basic_index has six instantiations, and this
// code must exist once in the WASM build.
// Depends on config.hpp and error.hpp only; knows nothing of vectors, graphs or ids.
//
// Invariants (attributes::validate() checks them on untrusted parts):
//  - every column has exactly rows() entries (bitsets: (rows() + 63) / 64 words, bits past rows()
//    zero); an absent cell holds zeros everywhere (code 0, number 0.0, bits 0, offset/count 0);
//  - string codes are 0 or in 1..dict.size(); pool entries in 1..dict.size(); a present list's
//    [offset, offset + count) lies inside the pool; dictionary strings are distinct;
//  - field names are 1..255 bytes, not starting with '$', distinct; at most max_fields fields.
#pragma once

#include "abi.hpp"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "config.hpp"
#include "error.hpp"

// The WASM build compiles this header for size (clang's minsize): keys and metadata are never on a
// search path, and an insert spends microseconds in the graph against nanoseconds here. Measured on
// the module with its name section stripped: -1,695 B gzip.
#if defined(__EMSCRIPTEN__)
#pragma clang attribute push (__attribute__((minsize)), apply_to = function)
#endif
namespace pocketvec::inline POCKETVEC_ABI {

using string_list = std::vector<std::string>;
/// A metadata value; the variant's index + 1 is its value_kind.
using value = std::variant<std::string, double, bool, string_list>;
/// Kinds of values and fields. Values are on the wire and in the binary format: never renumber.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"  // the enumerator string_list names the alias above
enum class value_kind : std::uint8_t { string = 1, number = 2, boolean = 3, string_list = 4 };
#pragma GCC diagnostic pop

inline value_kind kind_of(const value& v) noexcept { return static_cast<value_kind>(v.index() + 1); }
constexpr std::string_view kind_name(value_kind k) noexcept {
  switch (k) {
    case value_kind::string: return "string";
    case value_kind::number: return "number";
    case value_kind::boolean: return "boolean";
    case value_kind::string_list: return "string list";
  }
  return "unknown kind";
}

struct field {
  std::string name;
  value v;
  friend bool operator==(const field&, const field&) = default;
};
/// A record: field names unique (a duplicate is errc::invalid_argument where it is stored).
/// get_metadata() returns fields in the order the index first saw each field name.
using metadata = std::vector<field>;

inline constexpr std::size_t max_fields = 1024;           ///< distinct field names per index
inline constexpr std::size_t max_field_name_bytes = 255;  ///< field names: 1..255 bytes, no leading '$'
inline constexpr std::size_t max_key_bytes = 4096;        ///< keys: 1..4096 bytes

namespace detail {

inline std::string in_quotes(std::string_view s) { return "\"" + std::string(s) + "\""; }

/// FNV-1a, then a final mix: dictionary strings and keys are short.
inline std::uint32_t hash_bytes(std::string_view s) noexcept {
  std::uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  return h ^ (h >> 12);
}

inline bool bit(const std::vector<std::uint64_t>& w, std::size_t i) noexcept { return (w[i / 64] >> (i % 64)) & 1u; }
inline void set_bit(std::vector<std::uint64_t>& w, std::size_t i, bool on) noexcept {
  const std::uint64_t m = std::uint64_t{1} << (i % 64);
  w[i / 64] = on ? (w[i / 64] | m) : (w[i / 64] & ~m);
}
inline std::size_t words_for(std::size_t bits) noexcept { return (bits + 63) / 64; }

/// Field names: 1..255 bytes, not starting with '$'. `what` names the place ("metadata", "filter").
POCKETVEC_COLD inline void check_field_name(std::string_view name, const char* what) {
  if (name.empty() || name.size() > max_field_name_bytes)
    fail(errc::invalid_argument, std::string(what) + " field name must be 1..255 bytes, got " +
                                     std::to_string(name.size()));
  if (name[0] == '$')
    fail(errc::invalid_argument, std::string(what) + " field name " + in_quotes(name) + " must not start with '$'");
}

POCKETVEC_COLD inline void check_key(std::string_view key) {
  if (key.empty() || key.size() > max_key_bytes)
    fail(errc::invalid_argument, "key must be 1..4096 bytes, got " + std::to_string(key.size()));
}

/// An open-addressing table of u32 handles (stored + 1; 0 = empty), linear probing, at most 3/4
/// full. The keys live elsewhere: callers pass how to hash a handle and compare it with a probe.
class handle_table {
 public:
  template <class Eq>
  std::uint32_t* find(std::uint32_t hash, Eq&& eq) noexcept {
    if (slots_.empty()) return nullptr;
    for (std::size_t i = hash & mask();; i = (i + 1) & mask()) {
      if (slots_[i] == 0) return nullptr;
      if (eq(slots_[i] - 1)) return &slots_[i];
    }
  }
  template <class Eq>
  const std::uint32_t* find(std::uint32_t hash, Eq&& eq) const noexcept {
    return const_cast<handle_table*>(this)->find(hash, eq);
  }
  /// Room for n entries, so that insert() does not allocate. Strong.
  template <class HashOf>
  void reserve(std::size_t n, HashOf&& hash_of) {
    if (n == 0) return;
    std::size_t cap = slots_.empty() ? 16 : slots_.size();
    while (cap * 3 < n * 4) cap *= 2;
    if (cap == slots_.size()) return;
    std::vector<std::uint32_t> next(cap, 0);
    for (std::uint32_t h : slots_)
      if (h != 0) place(next, hash_of(h - 1), h);
    slots_.swap(next);
  }
  /// Adds a handle whose key is not present; reserve() made room.
  void insert(std::uint32_t hash, std::uint32_t handle) noexcept {
    place(slots_, hash, handle + 1);
    ++size_;
  }
  /// Removes the entry `e` points at (backward-shift deletion). Allocates nothing.
  template <class HashOf>
  void erase(std::uint32_t* e, HashOf&& hash_of) noexcept {
    std::size_t i = static_cast<std::size_t>(e - slots_.data());
    for (std::size_t j = i;;) {
      j = (j + 1) & mask();
      if (slots_[j] == 0) break;
      const std::size_t h = hash_of(slots_[j] - 1) & mask();
      const bool stays = i <= j ? (i < h && h <= j) : (i < h || h <= j);
      if (!stays) {
        slots_[i] = slots_[j];
        i = j;
      }
    }
    slots_[i] = 0;
    --size_;
  }
  void clear() noexcept {
    std::vector<std::uint32_t>().swap(slots_);
    size_ = 0;
  }
  std::size_t size() const noexcept { return size_; }
  std::size_t memory_bytes() const noexcept { return slots_.capacity() * sizeof(std::uint32_t); }
  std::vector<std::uint32_t>& raw() noexcept { return slots_; }

 private:
  std::size_t mask() const noexcept { return slots_.size() - 1; }
  static void place(std::vector<std::uint32_t>& t, std::uint32_t hash, std::uint32_t stored) noexcept {
    const std::size_t mask = t.size() - 1;
    std::size_t i = hash & mask;
    while (t[i] != 0) i = (i + 1) & mask;
    t[i] = stored;
  }
  std::vector<std::uint32_t> slots_;
  std::size_t size_ = 0;
};

}  // namespace detail

/// The distinct strings of one field: code c (1..size()) is bytes()[ends()[c-2] .. ends()[c-1]).
/// Codes are handed out in order and never change; 0 means "absent".
class string_dict {
 public:
  std::size_t size() const noexcept { return ends_.size(); }
  std::string_view at(std::uint32_t code) const noexcept {
    const std::uint32_t b = code > 1 ? ends_[code - 2] : 0;
    return std::string_view(bytes_.data() + b, ends_[code - 1] - b);
  }
  /// The code of `s`, or 0.
  POCKETVEC_NOINLINE std::uint32_t find(std::string_view s) const noexcept {
    const std::uint32_t* e = table_.find(detail::hash_bytes(s), [&](std::uint32_t c) { return at(c) == s; });
    return e ? *e - 1 : 0;
  }
  /// The code of `s`, added if new. Strong.
  POCKETVEC_NOINLINE std::uint32_t intern(std::string_view s) {
    if (const std::uint32_t c = find(s)) return c;
    if (size() >= 0xFFFFFFFEu || bytes_.size() + s.size() > 0xFFFFFFFFu)
      detail::fail(errc::capacity_exceeded, "a field's dictionary holds at most 4 GiB of strings");
    table_.reserve(size() + 1, [&](std::uint32_t c) { return detail::hash_bytes(at(c)); });
    detail::grow_to(ends_, size() + 1);
    detail::grow_to(bytes_, bytes_.size() + s.size());
    bytes_.append(s);
    ends_.push_back(static_cast<std::uint32_t>(bytes_.size()));
    const auto code = static_cast<std::uint32_t>(size());
    table_.insert(detail::hash_bytes(s), code);
    return code;
  }
  /// Drops the codes above n (newest first). Allocates nothing.
  POCKETVEC_COLD void truncate(std::size_t n) noexcept {
    auto hash_of = [&](std::uint32_t c) { return detail::hash_bytes(at(c)); };
    while (size() > n) {
      const auto code = static_cast<std::uint32_t>(size());
      std::uint32_t* e = table_.find(hash_of(code), [&](std::uint32_t c) { return c == code; });
      POCKETVEC_ASSERT(e != nullptr);
      table_.erase(e, hash_of);
      ends_.pop_back();
      bytes_.resize(ends_.empty() ? 0 : ends_.back());
    }
  }
  std::size_t memory_bytes() const noexcept {
    return ends_.capacity() * sizeof(std::uint32_t) + bytes_.capacity() + table_.memory_bytes();
  }

  /// Raw parts (the binary format): end offsets per code and the concatenated bytes.
  const std::vector<std::uint32_t>& ends() const noexcept { return ends_; }
  const std::string& bytes() const noexcept { return bytes_; }
  /// From untrusted parts: ends non-decreasing, the last == bytes.size(), strings distinct;
  /// errc::corrupt_data otherwise, naming `what`.
  POCKETVEC_COLD static string_dict from_parts(std::vector<std::uint32_t> ends, std::string bytes, const std::string& what) {
    string_dict d;
    std::uint32_t prev = 0;
    for (std::uint32_t e : ends) {
      if (e < prev || e > bytes.size()) detail::fail(errc::corrupt_data, what + ": dictionary offsets out of order or range");
      prev = e;
    }
    if (prev != bytes.size()) detail::fail(errc::corrupt_data, what + ": dictionary bytes past the last string");
    d.ends_ = std::move(ends);
    d.bytes_ = std::move(bytes);
    d.table_.reserve(d.size(), [&](std::uint32_t c) { return detail::hash_bytes(d.at(c)); });
    for (std::uint32_t c = 1; c <= d.size(); ++c) {
      if (d.find(d.at(c)) != 0) detail::fail(errc::corrupt_data, what + ": dictionary string " + std::to_string(c) + " repeats an earlier one");
      d.table_.insert(detail::hash_bytes(d.at(c)), c);
    }
    return d;
  }

 private:
  std::vector<std::uint32_t> ends_;
  std::string bytes_;
  detail::handle_table table_;  // handle = code
};

/// One field's column over rows (see the invariants at the top of this file).
struct column {
  std::string name;
  value_kind kind = value_kind::string;
  std::vector<std::uint32_t> codes;          ///< string: per row, 0 = absent
  std::vector<double> numbers;               ///< number: per row (0.0 where absent)
  std::vector<std::uint64_t> present;        ///< number, boolean, string list: presence bits
  std::vector<std::uint64_t> truth;          ///< boolean: the value bits (0 where absent)
  std::vector<std::uint32_t> list_offset;    ///< string list: per row, first pool entry (0 where absent)
  std::vector<std::uint32_t> list_count;     ///< string list: per row, elements (0 where absent or empty)
  std::vector<std::uint32_t> pool;           ///< string list: element codes (rewrites append; compaction packs)
  string_dict dict;                          ///< string, string list

  bool has(std::size_t row) const noexcept {
    return kind == value_kind::string ? codes[row] != 0 : detail::bit(present, row);
  }
  std::size_t memory_bytes() const noexcept {
    return name.capacity() + codes.capacity() * 4 + numbers.capacity() * 8 + present.capacity() * 8 +
           truth.capacity() * 8 + list_offset.capacity() * 4 + list_count.capacity() * 4 + pool.capacity() * 4 +
           dict.memory_bytes() + sizeof(column);
  }
};

namespace detail {
/// Checks a record on its own: at most max_fields fields, valid and distinct names, finite
/// numbers. errc::invalid_argument naming the field.
POCKETVEC_COLD inline void check_metadata(const metadata& md) {
  if (md.size() > max_fields)
    fail(errc::invalid_argument, "metadata has " + std::to_string(md.size()) + " fields, at most 1024 are allowed");
  for (const field& f : md) {
    check_field_name(f.name, "metadata");
    if (const double* x = std::get_if<double>(&f.v); x && !std::isfinite(*x))
      fail(errc::invalid_argument, "metadata field " + in_quotes(f.name) + " is " + (std::isnan(*x) ? "NaN" : "infinite") +
                                       ": numbers must be finite");
  }
  if (md.size() < 2) return;
  std::vector<std::string_view> names;
  names.reserve(md.size());
  for (const field& f : md) names.push_back(f.name);
  std::sort(names.begin(), names.end());
  const auto dup = std::adjacent_find(names.begin(), names.end());
  if (dup != names.end()) fail(errc::invalid_argument, "metadata field " + in_quotes(*dup) + " appears twice");
}
}  // namespace detail

/// The metadata columns of an index, by slot.
class attributes {
 public:
  /// What stage() prepared for one row; commit() writes it, unstage() takes it back.
  struct staged {
    struct cell {
      std::uint32_t field;
      std::uint32_t a = 0, b = 0;  // string: code; list: pool offset, count; boolean: value
      double number = 0.0;
    };
    std::vector<cell> cells;
    std::size_t fields_before = 0;
    struct field_mark {
      std::uint32_t field;
      std::uint32_t dict_size, pool_size;
    };
    std::vector<field_mark> marks;  // fields that existed and whose dictionary or pool grew
  };
  /// What rollback() returns to (begin_batch): rows, fields and every dictionary and pool size.
  struct mark_type {
    std::size_t rows = 0, fields = 0;
    std::vector<staged::field_mark> sizes;
  };

  std::size_t rows() const noexcept { return rows_; }
  std::size_t field_count() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  const column& field_at(std::size_t i) const noexcept { return fields_[i]; }
  const std::vector<column>& columns() const noexcept { return fields_; }
  /// The field named `name`, or nullptr. O(log fields).
  POCKETVEC_NOINLINE const column* find_field(std::string_view name) const noexcept {
    const std::size_t i = lower(name);
    return i < by_name_.size() && fields_[by_name_[i]].name == name ? &fields_[by_name_[i]] : nullptr;
  }

  /// Capacity for n rows in every column, so that append_row() does not allocate. Strong.
  POCKETVEC_NOINLINE void reserve_rows(std::size_t n) {
    for (column& c : fields_) reserve_column(c, n);
  }
  /// Appends one empty row; reserve_rows(rows() + 1) was called.
  POCKETVEC_NOINLINE void append_row() noexcept {
    for (column& c : fields_) {
      switch (c.kind) {
        case value_kind::string: c.codes.push_back(0); break;
        case value_kind::number: c.numbers.push_back(0.0); break;
        case value_kind::boolean: break;
        case value_kind::string_list:
          c.list_offset.push_back(0);
          c.list_count.push_back(0);
          break;
      }
      if (c.kind != value_kind::string && rows_ % 64 == 0) {
        c.present.push_back(0);
        if (c.kind == value_kind::boolean) c.truth.push_back(0);
      }
    }
    ++rows_;
  }

  /// Validates `md` against the fields (a value of another kind than its field's is
  /// errc::invalid_argument naming both) and prepares it: new fields and dictionary strings are
  /// added, list codes appended to the pools, and room made for `rows_after` rows. Strong: on a
  /// throw nothing is left staged.
  POCKETVEC_COLD void stage(const metadata& md, staged& out, std::size_t rows_after) {
    detail::check_metadata(md);
    out.cells.clear();
    out.marks.clear();
    out.fields_before = fields_.size();
    try {
      out.cells.reserve(md.size());
      out.marks.reserve(md.size());
      for (const field& f : md) {
        const value_kind k = kind_of(f.v);
        std::size_t fi = field_index(f.name);
        if (fi == npos) {
          if (fields_.size() >= max_fields)
            detail::fail(errc::invalid_argument, "an index holds at most 1024 fields; metadata field " +
                                                     detail::in_quotes(f.name) + " would be one more");
          fi = add_field(f.name, k, rows_after);
        } else if (fields_[fi].kind != k) {
          detail::fail(errc::invalid_argument, "metadata field " + detail::in_quotes(f.name) + " holds " +
                                                   std::string(kind_name(fields_[fi].kind)) + " values; got a " +
                                                   std::string(kind_name(k)));
        }
        column& c = fields_[fi];
        staged::cell cell{static_cast<std::uint32_t>(fi)};
        if (fi < out.fields_before && (k == value_kind::string || k == value_kind::string_list))
          out.marks.push_back({cell.field, static_cast<std::uint32_t>(c.dict.size()), static_cast<std::uint32_t>(c.pool.size())});
        switch (k) {
          case value_kind::string: cell.a = c.dict.intern(std::get<std::string>(f.v)); break;
          case value_kind::number: cell.number = std::get<double>(f.v); break;
          case value_kind::boolean: cell.a = std::get<bool>(f.v) ? 1 : 0; break;
          case value_kind::string_list: {
            const string_list& l = std::get<string_list>(f.v);
            if (c.pool.size() + l.size() > 0xFFFFFFFFu)
              detail::fail(errc::capacity_exceeded, "a field's list pool holds at most 4294967295 entries");
            detail::grow_to(c.pool, c.pool.size() + l.size());
            cell.a = static_cast<std::uint32_t>(c.pool.size());
            cell.b = static_cast<std::uint32_t>(l.size());
            for (const std::string& s : l) {
              const std::uint32_t code = c.dict.intern(s);
              c.pool.push_back(code);  // capacity reserved
            }
            break;
          }
        }
        out.cells.push_back(cell);
      }
      reserve_rows(rows_after);
    } catch (...) {
      unstage(out);
      throw;
    }
  }

  /// Takes back what stage() added (fields, dictionary strings, pool codes). Allocates nothing.
  POCKETVEC_COLD void unstage(const staged& s) noexcept {
    for (auto it = s.marks.rbegin(); it != s.marks.rend(); ++it) {
      column& c = fields_[it->field];
      c.dict.truncate(it->dict_size);
      c.pool.resize(it->pool_size);
    }
    drop_fields(s.fields_before);
  }

  /// Writes row `row` (< rows()) as staged, replacing every field of it. Allocates nothing.
  POCKETVEC_NOINLINE void commit(std::size_t row, const staged& s) noexcept {
    if (s.cells.empty() && fields_.empty()) return;
    for (column& c : fields_) clear_cell(c, row);
    for (const staged::cell& cell : s.cells) {
      column& c = fields_[cell.field];
      switch (c.kind) {
        case value_kind::string: c.codes[row] = cell.a; break;
        case value_kind::number: c.numbers[row] = cell.number; break;
        case value_kind::boolean: detail::set_bit(c.truth, row, cell.a != 0); break;
        case value_kind::string_list:
          c.list_offset[row] = cell.a;
          c.list_count[row] = cell.b;
          break;
      }
      if (c.kind != value_kind::string) detail::set_bit(c.present, row, true);
    }
  }

  /// The row as a record, fields in first-seen order ({} when it holds none).
  POCKETVEC_COLD metadata row(std::size_t r) const {
    metadata md;
    for (const column& c : fields_) {
      if (!c.has(r)) continue;
      switch (c.kind) {
        case value_kind::string: md.push_back({c.name, std::string(c.dict.at(c.codes[r]))}); break;
        case value_kind::number: md.push_back({c.name, c.numbers[r]}); break;
        case value_kind::boolean: md.push_back({c.name, detail::bit(c.truth, r)}); break;
        case value_kind::string_list: {
          string_list l;
          l.reserve(c.list_count[r]);
          for (std::uint32_t i = 0; i < c.list_count[r]; ++i) l.emplace_back(c.dict.at(c.pool[c.list_offset[r] + i]));
          md.push_back({c.name, std::move(l)});
          break;
        }
      }
    }
    return md;
  }

  POCKETVEC_COLD mark_type mark() const {
    mark_type m;
    m.rows = rows_;
    m.fields = fields_.size();
    m.sizes.reserve(fields_.size());
    for (std::size_t i = 0; i < fields_.size(); ++i)
      m.sizes.push_back({static_cast<std::uint32_t>(i), static_cast<std::uint32_t>(fields_[i].dict.size()),
                         static_cast<std::uint32_t>(fields_[i].pool.size())});
    return m;
  }
  /// Back to `m`: rows past it dropped, fields and dictionary strings added since removed. Only
  /// appends may have happened since (a batch). Allocates nothing.
  POCKETVEC_COLD void rollback(const mark_type& m) noexcept {
    drop_fields(m.fields);
    for (const auto& fm : m.sizes) {
      column& c = fields_[fm.field];
      c.dict.truncate(fm.dict_size);
      c.pool.resize(fm.pool_size);
    }
    truncate(m.rows);
  }
  /// Drops the rows from n on. Allocates nothing.
  POCKETVEC_COLD void truncate(std::size_t n) noexcept {
    if (n >= rows_) return;
    rows_ = n;
    for (column& c : fields_) {
      c.codes.resize(std::min(c.codes.size(), n));
      c.numbers.resize(std::min(c.numbers.size(), n));
      c.list_offset.resize(std::min(c.list_offset.size(), n));
      c.list_count.resize(std::min(c.list_count.size(), n));
      if (c.kind != value_kind::string) {
        c.present.resize(detail::words_for(n));
        if (n % 64) c.present.back() &= (std::uint64_t{1} << (n % 64)) - 1;
        if (c.kind == value_kind::boolean) {
          c.truth.resize(detail::words_for(n));
          if (n % 64) c.truth.back() &= (std::uint64_t{1} << (n % 64)) - 1;
        }
      }
    }
  }

  /// compact()'s plan: the packed list pools (may throw; changes nothing).
  struct keep_plan {
    std::vector<std::vector<std::uint32_t>> pools;  // per field (empty unless a string list)
  };
  POCKETVEC_COLD keep_plan plan_keep(std::span<const slot_t> remap) const {
    keep_plan p;
    p.pools.resize(fields_.size());
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      const column& c = fields_[f];
      if (c.kind != value_kind::string_list) continue;
      std::size_t n = 0;
      for (std::size_t r = 0; r < rows_; ++r)
        if (remap[r] != no_slot) n += c.list_count[r];
      p.pools[f].reserve(n);
      for (std::size_t r = 0; r < rows_; ++r)
        if (remap[r] != no_slot)
          p.pools[f].insert(p.pools[f].end(), c.pool.begin() + c.list_offset[r],
                            c.pool.begin() + c.list_offset[r] + c.list_count[r]);
    }
    return p;
  }
  /// In place: row r moves to remap[r] (ascending; no_slot: dropped); `live` rows remain. Allocates
  /// nothing. The pools come from plan_keep(remap).
  POCKETVEC_COLD void keep_only(std::span<const slot_t> remap, std::size_t live, keep_plan&& plan) noexcept {
    for (std::size_t f = 0; f < fields_.size(); ++f) {
      column& c = fields_[f];
      std::uint32_t at = 0;
      for (std::size_t r = 0; r < rows_; ++r) {
        const slot_t to = remap[r];
        if (to == no_slot) continue;
        switch (c.kind) {
          case value_kind::string: c.codes[to] = c.codes[r]; break;
          case value_kind::number: c.numbers[to] = c.numbers[r]; break;
          case value_kind::boolean: detail::set_bit(c.truth, to, detail::bit(c.truth, r)); break;
          case value_kind::string_list:
            c.list_count[to] = c.list_count[r];
            c.list_offset[to] = c.list_count[r] ? at : 0;
            at += c.list_count[r];
            break;
        }
        if (c.kind != value_kind::string) detail::set_bit(c.present, to, detail::bit(c.present, r));
      }
      if (c.kind == value_kind::string_list) c.pool.swap(plan.pools[f]);
    }
    truncate(live);
    // truncate() keeps rows past `live` only when live == rows_ (nothing dropped).
  }

  /// A copy holding only the rows `keep` (ascending), in that order. Dictionaries are copied whole.
  POCKETVEC_COLD attributes compacted(std::span<const slot_t> keep) const {
    attributes a;
    a.by_name_ = by_name_;
    a.fields_.reserve(fields_.size());
    for (const column& c : fields_) {
      column n;
      n.name = c.name;
      n.kind = c.kind;
      n.dict = c.dict;
      reserve_column(n, keep.size());
      a.fields_.push_back(std::move(n));
    }
    for (std::size_t i = 0; i < keep.size(); ++i) {
      a.append_row();
      for (std::size_t f = 0; f < fields_.size(); ++f) {
        const column& c = fields_[f];
        column& n = a.fields_[f];
        const slot_t r = keep[i];
        switch (c.kind) {
          case value_kind::string: n.codes[i] = c.codes[r]; break;
          case value_kind::number: n.numbers[i] = c.numbers[r]; break;
          case value_kind::boolean: detail::set_bit(n.truth, i, detail::bit(c.truth, r)); break;
          case value_kind::string_list:
            n.list_count[i] = c.list_count[r];
            n.list_offset[i] = c.list_count[r] ? static_cast<std::uint32_t>(n.pool.size()) : 0;
            n.pool.insert(n.pool.end(), c.pool.begin() + c.list_offset[r], c.pool.begin() + c.list_offset[r] + c.list_count[r]);
            break;
        }
        if (c.kind != value_kind::string) detail::set_bit(n.present, i, detail::bit(c.present, r));
      }
    }
    return a;
  }

  std::size_t memory_bytes() const noexcept {
    std::size_t b = fields_.capacity() * sizeof(column) + by_name_.capacity() * sizeof(std::uint16_t);
    for (const column& c : fields_) b += c.memory_bytes() - sizeof(column);
    return b;
  }

  /// From untrusted parts (the binary format): checks every invariant at the top of this file for
  /// `rows` rows and builds the name index. errc::corrupt_data naming the field and the check.
  POCKETVEC_COLD static attributes from_parts(std::size_t rows, std::vector<column> cols) {
    attributes a;
    if (cols.size() > max_fields) detail::fail(errc::corrupt_data, "metadata: more than 1024 fields");
    a.rows_ = rows;
    a.fields_ = std::move(cols);
    for (const column& c : a.fields_) validate_column(c, rows);
    a.by_name_.reserve(a.fields_.size());
    for (std::size_t i = 0; i < a.fields_.size(); ++i) {
      const std::size_t at = a.lower(a.fields_[i].name);
      if (at < a.by_name_.size() && a.fields_[a.by_name_[at]].name == a.fields_[i].name)
        detail::fail(errc::corrupt_data, "metadata: field " + detail::in_quotes(a.fields_[i].name) + " appears twice");
      a.by_name_.insert(a.by_name_.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint16_t>(i));
    }
    return a;
  }

 private:
  static constexpr std::size_t npos = ~std::size_t{0};

  std::size_t lower(std::string_view name) const noexcept {
    const auto it = std::lower_bound(by_name_.begin(), by_name_.end(), name,
                                     [&](std::uint16_t i, std::string_view n) { return fields_[i].name < n; });
    return static_cast<std::size_t>(it - by_name_.begin());
  }
  std::size_t field_index(std::string_view name) const noexcept {
    const std::size_t i = lower(name);
    return i < by_name_.size() && fields_[by_name_[i]].name == name ? by_name_[i] : npos;
  }

  static void reserve_column(column& c, std::size_t n) {
    switch (c.kind) {
      case value_kind::string: detail::grow_to(c.codes, n); break;
      case value_kind::number: detail::grow_to(c.numbers, n); break;
      case value_kind::boolean: detail::grow_to(c.truth, detail::words_for(n)); break;
      case value_kind::string_list:
        detail::grow_to(c.list_offset, n);
        detail::grow_to(c.list_count, n);
        break;
    }
    if (c.kind != value_kind::string) detail::grow_to(c.present, detail::words_for(n));
  }

  /// A new, empty column over the current rows, with room for `rows_after`. Strong.
  std::size_t add_field(const std::string& name, value_kind k, std::size_t rows_after) {
    column c;
    c.name = name;
    c.kind = k;
    reserve_column(c, std::max(rows_after, rows_));
    switch (k) {
      case value_kind::string: c.codes.resize(rows_, 0); break;
      case value_kind::number: c.numbers.resize(rows_, 0.0); break;
      case value_kind::boolean: c.truth.resize(detail::words_for(rows_), 0); break;
      case value_kind::string_list:
        c.list_offset.resize(rows_, 0);
        c.list_count.resize(rows_, 0);
        break;
    }
    if (k != value_kind::string) c.present.resize(detail::words_for(rows_), 0);
    detail::grow_to(fields_, fields_.size() + 1);
    detail::grow_to(by_name_, by_name_.size() + 1);
    const std::size_t at = lower(name);
    fields_.push_back(std::move(c));
    by_name_.insert(by_name_.begin() + static_cast<std::ptrdiff_t>(at), static_cast<std::uint16_t>(fields_.size() - 1));
    return fields_.size() - 1;
  }

  void drop_fields(std::size_t n) noexcept {
    if (fields_.size() <= n) return;
    by_name_.erase(std::remove_if(by_name_.begin(), by_name_.end(), [&](std::uint16_t i) { return i >= n; }), by_name_.end());
    while (fields_.size() > n) fields_.pop_back();
  }

  static void clear_cell(column& c, std::size_t row) noexcept {
    switch (c.kind) {
      case value_kind::string: c.codes[row] = 0; break;
      case value_kind::number: c.numbers[row] = 0.0; break;
      case value_kind::boolean: detail::set_bit(c.truth, row, false); break;
      case value_kind::string_list: c.list_offset[row] = c.list_count[row] = 0; break;
    }
    if (c.kind != value_kind::string) detail::set_bit(c.present, row, false);
  }

  POCKETVEC_COLD static void validate_column(const column& c, std::size_t rows) {
    const std::string what = "metadata field " + detail::in_quotes(c.name);
    auto bad = [&](const char* why) { detail::fail(errc::corrupt_data, what + ": " + why); };
    if (c.name.empty() || c.name.size() > max_field_name_bytes || c.name[0] == '$') bad("bad name");
    if (static_cast<unsigned>(c.kind) < 1 || static_cast<unsigned>(c.kind) > 4) bad("unknown kind");
    const bool is_str = c.kind == value_kind::string, is_num = c.kind == value_kind::number,
               is_bool = c.kind == value_kind::boolean, is_list = c.kind == value_kind::string_list;
    const std::size_t words = detail::words_for(rows);
    auto tail_clear = [&](const std::vector<std::uint64_t>& w) {
      return rows % 64 == 0 || w.empty() || (w.back() >> (rows % 64)) == 0;
    };
    if (c.codes.size() != (is_str ? rows : 0) || c.numbers.size() != (is_num ? rows : 0) ||
        c.present.size() != (is_str ? 0 : words) || c.truth.size() != (is_bool ? words : 0) ||
        c.list_offset.size() != (is_list ? rows : 0) || c.list_count.size() != (is_list ? rows : 0) ||
        (!is_list && !c.pool.empty()) || (!is_str && !is_list && c.dict.size() != 0))
      bad("column sizes do not match its kind and the row count");
    if (!tail_clear(c.present) || !tail_clear(c.truth)) bad("bits set past the last row");
    const std::size_t dn = c.dict.size();
    for (std::size_t r = 0; r < rows; ++r) {
      const bool has = is_str ? c.codes[r] != 0 : detail::bit(c.present, r);
      if (is_str && c.codes[r] > dn) bad("a string code is past the dictionary");
      if (is_num) {
        if (has ? !std::isfinite(c.numbers[r]) : __builtin_bit_cast(std::uint64_t, c.numbers[r]) != 0)
          bad("a number is not finite, or an absent one is not zero");
      }
      if (is_bool && !has && detail::bit(c.truth, r)) bad("an absent boolean is set");
      if (is_list) {
        const std::uint64_t end = std::uint64_t{c.list_offset[r]} + c.list_count[r];
        if (!has && (c.list_offset[r] | c.list_count[r]) != 0) bad("an absent list has an offset or count");
        if (end > c.pool.size()) bad("a list runs past the pool");
      }
    }
    for (std::uint32_t code : c.pool)
      if (code == 0 || code > dn) bad("a list element code is 0 or past the dictionary");
  }

  std::size_t rows_ = 0;
  std::vector<column> fields_;          // first-seen order
  std::vector<std::uint16_t> by_name_;  // field indices sorted by name
};

/// Optional string keys by slot, and key -> slot for the live ones.
/// Layout: ends() is empty (no slot ever held a key) or has one entry per slot: slot s's key is
/// bytes()[s ? ends()[s-1] : 0 .. ends()[s]), empty meaning none. Bytes are in slot order
/// (a key is only ever appended with its slot), so compaction packs them in place. Deleted slots
/// may keep their bytes until compaction, but only live slots are in the lookup table: release()
/// takes a slot's key out of it when the slot is deleted.
class key_table {
 public:
  bool empty() const noexcept { return ends_.empty(); }
  std::size_t rows() const noexcept { return rows_; }

  /// The slot whose live key is `key`, or no_slot. O(1) expected.
  POCKETVEC_NOINLINE slot_t find(std::string_view key) const noexcept {
    const std::uint32_t* e = table_.find(detail::hash_bytes(key), [&](std::uint32_t s) { return at(s) == key; });
    return e ? *e - 1 : no_slot;
  }
  /// Slot s's key (empty: none).
  std::string_view at(std::size_t s) const noexcept {
    if (s >= ends_.size()) return {};
    const std::uint32_t b = s ? ends_[s - 1] : 0;
    return std::string_view(bytes_.data() + b, ends_[s] - b);
  }

  /// Room to append one slot (rows() + 1 after) holding `key` (empty: none). Strong.
  POCKETVEC_COLD void reserve_append(std::size_t key_bytes) {
    if (key_bytes == 0 && ends_.empty()) return;
    if (bytes_.size() + key_bytes > 0xFFFFFFFFu) detail::fail(errc::capacity_exceeded, "keys hold at most 4 GiB");
    detail::grow_to(bytes_, bytes_.size() + key_bytes);
    detail::grow_to(ends_, rows_ + 1);
    if (key_bytes) table_.reserve(table_.size() + 1, [&](std::uint32_t s) { return detail::hash_bytes(at(s)); });
  }
  /// Room for n more slots without keys (a batch's rows). Strong.
  POCKETVEC_COLD void reserve_rows(std::size_t n) {
    if (!ends_.empty()) detail::grow_to(ends_, n);
  }
  /// Appends slot rows() holding `key` (empty: none; else not live already): reserve_append() was
  /// called. Allocates nothing.
  POCKETVEC_NOINLINE void append(std::string_view key) noexcept {
    if (key.empty() && ends_.empty()) {
      ++rows_;
      return;
    }
    if (ends_.empty()) ends_.resize(rows_, 0);  // capacity reserved: rows_ + 1
    // (key may point into bytes_ itself: capacity was reserved, so the append does not move it)
    bytes_.append(key.data(), key.size());
    ends_.push_back(static_cast<std::uint32_t>(bytes_.size()));
    if (!key.empty()) table_.insert(detail::hash_bytes(key), static_cast<std::uint32_t>(rows_));
    ++rows_;
  }
  /// Takes slot s's key out of the lookup (the slot is being deleted), freeing the key for reuse.
  POCKETVEC_NOINLINE void release(slot_t s) noexcept {
    const std::string_view k = at(s);
    if (k.empty()) return;
    std::uint32_t* e = table_.find(detail::hash_bytes(k), [&](std::uint32_t h) { return h == s; });
    if (e) table_.erase(e, [&](std::uint32_t h) { return detail::hash_bytes(at(h)); });
  }

  /// Drops the slots from n on (each one's key, if live, leaves the lookup). `was_empty`: the table
  /// held no keys at all at n (ends() goes back to empty). Allocates nothing.
  POCKETVEC_COLD void truncate(std::size_t n, bool was_empty) noexcept {
    for (std::size_t s = rows_; s-- > n;) release(static_cast<slot_t>(s));
    rows_ = std::min(rows_, n);
    if (ends_.size() > n) ends_.resize(n);
    if (was_empty) ends_.clear();
    bytes_.resize(ends_.empty() ? 0 : ends_.back());
  }
  /// In place: slot s moves to remap[s] (ascending; no_slot: dropped, its key must not be live).
  /// Allocates nothing.
  POCKETVEC_COLD void keep_only(std::span<const slot_t> remap, std::size_t live) noexcept {
    if (ends_.empty()) {
      rows_ = live;
      return;
    }
    // The lookup holds slots: renumber them (a key's hash does not depend on its slot).
    for (std::uint32_t& h : table_.raw())
      if (h != 0) h = remap[h - 1] + 1;
    std::uint32_t out = 0, begin = 0;
    for (std::size_t s = 0; s < rows_; ++s) {
      const std::uint32_t end = ends_[s];
      if (remap[s] != no_slot) {
        std::memmove(bytes_.data() + out, bytes_.data() + begin, end - begin);
        out += end - begin;
        ends_[remap[s]] = out;
      }
      begin = end;
    }
    rows_ = live;
    ends_.resize(live);
    bytes_.resize(out);
  }
  /// A copy holding only the slots `keep` (ascending), in that order; only live keys are kept live.
  POCKETVEC_COLD key_table compacted(std::span<const slot_t> keep) const {
    key_table t;
    if (ends_.empty()) {
      t.rows_ = keep.size();
      return t;
    }
    t.ends_.reserve(keep.size());
    std::size_t n = 0;
    for (slot_t s : keep) n += at(s).size();
    t.bytes_.reserve(n);
    t.table_.reserve(table_.size(), [&](std::uint32_t s) { return detail::hash_bytes(t.at(s)); });
    for (slot_t s : keep) {
      const std::string_view k = at(s);
      const bool live = !k.empty() && find(k) == s;
      t.append(live ? k : std::string_view());
    }
    return t;
  }

  std::size_t memory_bytes() const noexcept {
    return ends_.capacity() * sizeof(std::uint32_t) + bytes_.capacity() + table_.memory_bytes();
  }

  /// Raw parts (the binary format; see the layout above).
  const std::vector<std::uint32_t>& ends() const noexcept { return ends_; }
  const std::string& bytes() const noexcept { return bytes_; }
  /// From untrusted parts over `rows` slots whose tombstones are `deleted` (bit s of word s / 64):
  /// ends empty or rows long, non-decreasing, the last == bytes.size(), every key at most 4096
  /// bytes, and live slots' keys distinct (deleted slots' keys are kept as bytes, not looked up).
  /// errc::corrupt_data otherwise.
  POCKETVEC_COLD static key_table from_parts(std::size_t rows, std::vector<std::uint32_t> ends, std::string bytes,
                                             std::span<const std::uint64_t> deleted) {
    auto bad = [](const std::string& why) { detail::fail(errc::corrupt_data, "keys: " + why); };
    if (!ends.empty() && ends.size() != rows) bad("one end offset per slot expected");
    if (deleted.size() < detail::words_for(rows)) bad("tombstones shorter than the slots");
    std::uint32_t prev = 0;
    for (std::uint32_t e : ends) {
      if (e < prev || e > bytes.size()) bad("offsets out of order or range");
      if (e - prev > max_key_bytes) bad("a key is longer than 4096 bytes");
      prev = e;
    }
    if (prev != bytes.size()) bad("bytes past the last key");
    key_table t;
    t.rows_ = rows;
    t.ends_ = std::move(ends);
    t.bytes_ = std::move(bytes);
    std::size_t live = 0;
    for (std::size_t s = 0; s < t.ends_.size(); ++s)
      if (!t.at(s).empty() && !((deleted[s / 64] >> (s % 64)) & 1u)) ++live;
    t.table_.reserve(live, [&](std::uint32_t s) { return detail::hash_bytes(t.at(s)); });
    for (std::size_t s = 0; s < t.ends_.size(); ++s) {
      const std::string_view k = t.at(s);
      if (k.empty() || ((deleted[s / 64] >> (s % 64)) & 1u)) continue;
      if (t.find(k) != no_slot) bad("two live slots hold the key " + detail::in_quotes(k));
      t.table_.insert(detail::hash_bytes(k), static_cast<std::uint32_t>(s));
    }
    return t;
  }

 private:
  std::size_t rows_ = 0;
  std::vector<std::uint32_t> ends_;
  std::string bytes_;
  detail::handle_table table_;  // handle = slot
};

// ---- the record wire format (docs/format.md's neighbour: the JS <-> WASM boundary) ----
//   record := u32 nfields, nfields x (name, value); name := u32 len (1..255), bytes
//   value  := u8 tag: 1 string (u32 len, bytes) | 2 number (f64) | 3 boolean (u8 0/1)
//             | 4 string list (u32 n, n x (u32 len, bytes)); all little-endian.

namespace detail {
struct wire_writer {
  std::vector<std::uint8_t> out;
  void u8(std::uint8_t v) { out.push_back(v); }
  void u32(std::uint32_t v) {
    for (int i = 0; i < 4; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void f64(double d) {
    const auto v = __builtin_bit_cast(std::uint64_t, d);
    for (int i = 0; i < 8; ++i) out.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  }
  void str(std::string_view s) {
    u32(static_cast<std::uint32_t>(s.size()));
    out.insert(out.end(), s.begin(), s.end());
  }
};

/// Bounds-checked little-endian reads; anything short or out of range is errc::invalid_argument.
struct wire_reader {
  std::span<const std::uint8_t> b;
  std::size_t at = 0;
  const char* what;  // "filter", "metadata"

  [[noreturn]] POCKETVEC_COLD void bad(const std::string& why) const {
    fail(errc::invalid_argument, std::string(what) + " bytes: " + why + " (at byte " + std::to_string(at) + ")");
  }
  std::size_t left() const noexcept { return b.size() - at; }
  void need(std::size_t n, const char* item) const {
    if (left() < n) bad(std::string("truncated ") + item);
  }
  std::uint8_t u8(const char* item) {
    need(1, item);
    return b[at++];
  }
  std::uint32_t u32(const char* item) {
    need(4, item);
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v |= std::uint32_t{b[at + static_cast<std::size_t>(i)]} << (8 * i);
    at += 4;
    return v;
  }
  double f64(const char* item) {
    need(8, item);
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v |= std::uint64_t{b[at + static_cast<std::size_t>(i)]} << (8 * i);
    at += 8;
    return __builtin_bit_cast(double, v);
  }
  std::string str(const char* item) {
    const std::uint32_t n = u32(item);
    need(n, item);
    std::string s(reinterpret_cast<const char*>(b.data() + at), n);
    at += n;
    return s;
  }
  std::string name() {
    std::string s = str("field name");
    if (s.empty() || s.size() > max_field_name_bytes) bad("field name length " + std::to_string(s.size()) + " outside 1..255");
    if (s[0] == '$') bad("field name " + in_quotes(s) + " starts with '$'");
    return s;
  }
  /// A value; string lists only when `lists` (records).
  value val(bool lists) {
    const std::uint8_t tag = u8("value tag");
    switch (tag) {
      case 1: return str("string");
      case 2: {
        const double d = f64("number");
        if (std::isnan(d)) bad("NaN number");
        return d;
      }
      case 3: {
        const std::uint8_t v = u8("boolean");
        if (v > 1) bad("boolean byte " + std::to_string(v));
        return v == 1;
      }
      case 4:
        if (lists) {
          const std::uint32_t n = u32("list length");
          if (n > left() / 4) bad("list length " + std::to_string(n) + " exceeds the bytes left");
          string_list l;
          l.reserve(n);
          for (std::uint32_t i = 0; i < n; ++i) l.push_back(str("list element"));
          return l;
        }
        [[fallthrough]];
      default: bad("unknown value tag " + std::to_string(tag));
    }
  }
};

inline void write_value(wire_writer& w, const value& v) {
  w.u8(static_cast<std::uint8_t>(kind_of(v)));
  switch (kind_of(v)) {
    case value_kind::string: w.str(std::get<std::string>(v)); break;
    case value_kind::number: w.f64(std::get<double>(v)); break;
    case value_kind::boolean: w.u8(std::get<bool>(v) ? 1 : 0); break;
    case value_kind::string_list: {
      const string_list& l = std::get<string_list>(v);
      w.u32(static_cast<std::uint32_t>(l.size()));
      for (const std::string& s : l) w.str(s);
      break;
    }
  }
}

POCKETVEC_COLD inline metadata read_record(wire_reader& r) {
  const std::uint32_t n = r.u32("field count");
  if (n > r.left() / 6) r.bad("field count " + std::to_string(n) + " exceeds the bytes left");  // >= 6 bytes each
  metadata md;
  md.reserve(n);
  for (std::uint32_t i = 0; i < n; ++i) {
    std::string name = r.name();
    value v = r.val(true);
    md.push_back({std::move(name), std::move(v)});
  }
  check_metadata(md);
  return md;
}
}  // namespace detail

/// The record wire format of `md` (above). Field names are not checked here (insert does).
POCKETVEC_COLD inline std::vector<std::uint8_t> encode_metadata(const metadata& md) {
  detail::wire_writer w;
  w.u32(static_cast<std::uint32_t>(md.size()));
  for (const field& f : md) {
    w.str(f.name);
    detail::write_value(w, f.v);
  }
  return std::move(w.out);
}

/// One record from `bytes` (exactly: trailing bytes are an error). errc::invalid_argument on bad
/// bytes (truncation, unknown tags, NaN or infinite numbers, bad or duplicate names).
POCKETVEC_COLD inline metadata decode_metadata(std::span<const std::uint8_t> bytes) {
  detail::wire_reader r{bytes, 0, "metadata"};
  metadata md = detail::read_record(r);
  if (r.left() != 0) r.bad("trailing bytes after the record");
  return md;
}

/// `count` records concatenated (a batch), exactly filling `bytes`. errc::invalid_argument as above.
POCKETVEC_COLD inline std::vector<metadata> decode_metadata_records(std::span<const std::uint8_t> bytes, std::size_t count) {
  detail::wire_reader r{bytes, 0, "metadata"};
  if (count > bytes.size() / 4) r.bad("record count " + std::to_string(count) + " exceeds the bytes");
  std::vector<metadata> out;
  out.reserve(count);
  for (std::size_t i = 0; i < count; ++i) out.push_back(detail::read_record(r));
  if (r.left() != 0) r.bad("trailing bytes after the records");
  return out;
}

}  // namespace pocketvec::POCKETVEC_ABI
#if defined(__EMSCRIPTEN__)
#pragma clang attribute pop
#endif
