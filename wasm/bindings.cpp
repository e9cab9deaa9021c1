// wasm/bindings.cpp — the embind layer: translation between JS and pocketvec::index, nothing else.
//
// One adapter class, `wasm_index`, holds a pocketvec::index and the buffers that carry data across
// the boundary. The calls are coarse (one per insert, batch, search, save or load) because every
// embind call costs a few hundred nanoseconds of marshalling:
//   - Inputs: JS asks for a view of n floats or bytes (`stageF32(n)`, `stageBytes(n)`), fills it with
//     one TypedArray.set, then calls the operation, which reads the staged data. The view is created
//     after the buffer is (re)allocated, so memory growth cannot leave it stale; JS never keeps it.
//   - Search, the hot call, skips the staging call: the adapter owns a query buffer of dim() floats
//     that never moves while the index lives (`queryAddress()`); JS writes the query there through the
//     module's current HEAPF32 (re-read at every call, so never a view of a grown-away buffer) and
//     makes one call, which returns where the answer is; JS reads it through HEAPU32/HEAPF32 at once.
//   - Saves and loads stream: a writer yields the file a chunk at a time (`saveNext`, `chunk`), a push
//     parser takes it a staged piece at a time (`loadFeed`), so the heap never holds the whole file.
//   - Outputs: results land in C++-owned buffers (`out_u32_`, `out_f32_`, a save chunk) that JS views
//     with a typed_memory_view and copies out with .slice() at once, before any call can grow memory.
//     A search answer is packed as (id, distance bits) u32 pairs after a count, read in place.
//   - Errors: no C++ exception and no JS exception crosses the boundary. Every entry point runs in
//     guard(), which turns pocketvec::error / std::bad_alloc / std::exception into a negative status
//     (-errc) and keeps the message for lastError(); js/src/index.js turns that into a PocketvecError.
//     Throwing a JS Error from C++ (val::throw_) would unwind through wasm frames without running
//     destructors. A status also leaves the index exactly as the core left it, i.e. usable.
// Integers arrive already checked by the JS glue to be integers in [0, 2^32); range rules (dim <= 4096,
// k >= 1, reserved id ...) are the core's.
#include <emscripten/bind.h>
#include <emscripten/heap.h>
#include <emscripten/val.h>

#include <malloc.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <new>
#include <optional>
#include <span>
#include <utility>
#include <stdexcept>
#include <string>
#include <vector>

#include <pocketvec/pocketvec.hpp>

namespace {

using pocketvec::errc;

// Status codes below -errc range for failures that are not a pocketvec::error.
constexpr int status_internal = -100;  // a std::exception the core did not classify (a pocketvec bug)

pocketvec::quantization parse_quantization(const std::string& name) {
  if (name == "none") return pocketvec::quantization::none;
  if (name == "sq8") return pocketvec::quantization::sq8;
  pocketvec::detail::fail(errc::invalid_argument,
                          "unknown quantization '" + name + "' (expected 'none' or 'sq8')");
}

class wasm_index {
 public:
  int init(std::size_t dim, const std::string& metric, const std::string& quant, std::size_t m,
           std::size_t ef_construction, std::size_t ef_search, double seed, double compact_threshold,
           std::size_t sq8_training_size, bool sq8_rerank) {
    return status([&] {
      pocketvec::index_params p;
      p.dim = dim;
      p.metric_kind = pocketvec::parse_metric(metric);
      p.quant = parse_quantization(quant);
      p.m = m;
      p.ef_construction = ef_construction;
      p.ef_search = ef_search;
      p.seed = static_cast<std::uint64_t>(seed);  // JS checked: a safe non-negative integer
      p.compact_threshold = static_cast<float>(compact_threshold);
      p.sq8_training_size = sq8_training_size;
      p.sq8_rerank = sq8_rerank;
      index_.emplace(p);
      query_.assign(p.dim, 0.0f);
      return 0;
    });
  }

  // --- staging: JS fills these views, then calls the operation that consumes them ---------------
  // null when the buffer cannot be allocated (-out_of_memory, message in lastError()).
  emscripten::val stage_f32(std::size_t n) { return stage(in_f32_, n); }
  emscripten::val stage_bytes(std::size_t n) { return stage(bytes_, n); }

  // --- operations: >= 0 is the result, < 0 is -errc (message in lastError()) ---------------------
  double insert() {
    return guard([&] { return static_cast<double>(ix().insert(in_f32_)); });
  }
  int upsert(std::uint32_t id) {
    return status([&] { ix().upsert(id, in_f32_); return 0; });
  }
  int insert_batch() {
    return status([&] {
      auto ids = ix().insert_batch(in_f32_);
      out_u32_.assign(ids.begin(), ids.end());
      release_large_staging();
      return static_cast<int>(ids.size());
    });
  }
  // A large batch travels in pieces (js/src/index.js), so that the heap never holds the whole batch
  // twice (100k x 768 floats would be 307 MB of staging): every piece is checked (checkBatch), then
  // beginBatch(rows) reserves room for all rows and opens a core batch, each piece is inserted
  // (insertBatch), and commitBatch() keeps them all — or, when any piece fails (out of memory part
  // way, e.g. the SQ8 training a piece triggers), rollbackBatch() undoes every piece inserted so far.
  int check_batch(double first_row) {
    const int rc = status([&] { ix().check_batch(in_f32_, static_cast<std::size_t>(first_row)); return 0; });
    if (rc < 0) release_large_staging();  // JS stops at a bad piece: do not keep it
    return rc;
  }
  int begin_batch(std::size_t rows) {
    return status([&] {
      ix().reserve_more(rows);  // may throw; changes nothing observable
      ix().begin_batch();
      return 0;
    });
  }
  void commit_batch() {
    if (index_) index_->commit_batch();
  }
  void rollback_batch() {
    if (index_) index_->rollback_batch();
    release_large_staging();
  }
  // Searches the query JS wrote at queryAddress(). Returns the byte address of the answer in out_u32_
  // — [count, id0, distance0 bits, id1, ...] — which JS reads through HEAPU32/HEAPF32 before its next
  // call; or -errc. Returning a number, not a view, saves creating and slicing a typed array per call.
  double search(std::size_t k, std::size_t ef) {
    return guard([&] {
      const auto hits = ix().search(query_, k, ef);
      out_u32_.resize(1 + 2 * hits.size());
      out_u32_[0] = static_cast<std::uint32_t>(hits.size());
      for (std::size_t i = 0; i < hits.size(); ++i) {
        out_u32_[1 + 2 * i] = hits[i].id;
        std::memcpy(&out_u32_[2 + 2 * i], &hits[i].distance, sizeof(float));
      }
      return static_cast<double>(reinterpret_cast<std::uintptr_t>(out_u32_.data()));
    });
  }
  // Searches every query of the staged rows (stageF32(n * dim)) in one call: out_u32_ gets n * k ids
  // and out_f32_ n * k distances, row after row, nearest first; a row with fewer than k live results
  // is padded with id 0xFFFFFFFF and distance +Infinity. Returns n, or -errc (the message names the
  // query row). JS copies both out at once.
  int search_batch(std::size_t k, std::size_t ef) {
    std::size_t row = 0, rows = 0;
    const int rc = status([&] {
      if (k == 0) pocketvec::detail::fail(errc::invalid_argument, "k must be at least 1");
      const std::size_t d = ix().dim();
      // (JS checks the length first; this keeps a direct caller of the binding safe.)
      if (in_f32_.size() % d != 0) pocketvec::detail::fail(errc::dimension_mismatch, "queries are not rows of dim floats");
      rows = in_f32_.size() / d;
      if (rows != 0 && k > out_u32_.max_size() / rows)
        pocketvec::detail::fail(errc::out_of_memory, "out of memory: n x k results do not fit the heap");
      out_u32_.assign(rows * k, 0xFFFFFFFFu);
      out_f32_.assign(rows * k, std::numeric_limits<float>::infinity());
      const std::span<const float> all(in_f32_);
      for (row = 0; row < rows; ++row) {
        const auto hits = ix().search(all.subspan(row * d, d), k, ef);
        for (std::size_t i = 0; i < hits.size(); ++i) {
          out_u32_[row * k + i] = hits[i].id;
          out_f32_[row * k + i] = hits[i].distance;
        }
      }
      release_large_staging();
      return static_cast<int>(rows);
    });
    if (rc < 0 && row < rows) last_error_ = "query " + std::to_string(row) + ": " + last_error_;
    return rc;
  }
  // Every live id, in slot order (JS sorts them), into out_u32_ (one call; JS copies it out at once).
  // Returns the count.
  int live_ids() {
    return status([&] {
      // The slot table and tombstone bitset have the same types in every index type: the visit only
      // fetches them, so the loop exists once, not once per metric x store.
      using tables = std::pair<std::span<const std::uint32_t>, std::span<const std::uint64_t>>;
      const tables t = ix().visit([](const auto& core) { return tables(core.state().slot_ids, core.state().deleted); });
      out_u32_.clear();
      out_u32_.reserve(ix().size());
      for (std::size_t s = 0; s < t.first.size(); ++s)
        if (!((t.second[s / 64] >> (s % 64)) & 1u)) out_u32_.push_back(t.first[s]);
      return static_cast<int>(out_u32_.size());
    });
  }
  /// Byte address of the dim() floats search() reads; fixed for the life of the index.
  std::uintptr_t query_address() const { return reinterpret_cast<std::uintptr_t>(query_.data()); }
  int erase(std::uint32_t id) {
    return status([&] { ix().erase(id); return 0; });
  }
  bool contains(std::uint32_t id) const { return index_ && index_->contains(id); }
  int get(std::uint32_t id) {
    return status([&] { out_f32_ = ix().get(id); return static_cast<int>(out_f32_.size()); });
  }
  int rebuild() {
    return status([&] { ix().rebuild(); return 0; });
  }
  bool needs_compaction() { return index_ && index_->needs_compaction(); }
  int compact() {
    return status([&] { ix().compact(); return 0; });
  }
  int reserve(std::size_t n) {
    return status([&] { ix().reserve(n); return 0; });
  }
  int train() {
    return status([&] { ix().train(in_f32_); release_large_staging(); return 0; });
  }
  // SQ8 quantizer state, [trained (0/1), encoded, clamped, clamped fraction], as doubles at the returned
  // byte address (read by JS through HEAPF64 at once). All zero for an f32 index.
  std::uintptr_t sq8_stats() {
    const pocketvec::sq8_stats st = index_ ? index_->sq8() : pocketvec::sq8_stats{};
    sq8_[0] = st.trained ? 1.0 : 0.0;
    sq8_[1] = static_cast<double>(st.encoded);
    sq8_[2] = static_cast<double>(st.clamped);
    sq8_[3] = st.clamped_fraction();
    return reinterpret_cast<std::uintptr_t>(sq8_);
  }
  // --- streaming save and load: one chunk of heap at a time, never the whole file ----------------
  // saveBegin(chunk, append) starts a writer over the index (the whole file, or with append the
  // segment since the save point) and returns its length; each saveNext() fills the next chunk (its
  // length, 0 at the end), which JS copies out of chunk() at once. JS makes every call between
  // saveBegin and saveEnd in one synchronous run, so the index cannot change. saveDigest(0) is the
  // digest the segment extends (the save point's), saveDigest(1) the one its bytes end with: a store
  // appends only onto bytes that end with the first. Once the bytes are stored, markSaved() makes the
  // writer's state the save point: 1, or 0 when the index changed since (then there is none).
  double save_begin(std::size_t chunk, bool append) {
    return guard([&] {
      writer_.reset();
      base_digest_ = append ? ix().last_save().digest : 0;
      writer_.emplace(ix(), chunk, append ? pocketvec::save_mode::append : pocketvec::save_mode::full);
      point_ = writer_->point();
      return static_cast<double>(writer_->total_bytes());
    });
  }
  double save_digest(int which) const { return which ? point_.digest : base_digest_; }
  bool appendable() const { return index_ && index_->appendable(); }
  int mark_saved() {
    if (!index_) return 0;
    try {
      index_->saved(point_);
      return 1;
    } catch (...) {
      index_->forget_save();
      return 0;
    }
  }
  double save_next() {
    return guard([&] {
      if (!writer_) pocketvec::detail::fail(errc::invalid_argument, "no save in progress");
      chunk_ = writer_->next();
      return static_cast<double>(chunk_.size());
    });
  }
  emscripten::val chunk() const { return emscripten::val(emscripten::typed_memory_view(chunk_.size(), chunk_.data())); }
  void save_end() {
    writer_.reset();
    chunk_ = {};
  }
  // A load feeds the file in pieces staged with stageBytes(n): loadFeed(n) parses the first n staged
  // bytes straight into the arrays of the index to be (a fresh handle's push parser), loadFinish()
  // builds it. Any failure is final for the handle (JS deletes it).
  int load_feed(std::size_t n) {
    return status([&] {
      reader().feed({bytes_.data(), std::min(n, bytes_.size())});
      return 0;
    });
  }
  int load_finish() {
    return status([&] {
      index_.emplace(reader().finish());
      reader_.reset();
      query_.assign(index_->dim(), 0.0f);
      release_bytes();
      return 0;
    });
  }

  // --- result views: valid until the next call; JS copies them out at once ---------------------
  emscripten::val results_u32() const {
    return emscripten::val(emscripten::typed_memory_view(out_u32_.size(), out_u32_.data()));
  }
  emscripten::val results_f32() const {
    return emscripten::val(emscripten::typed_memory_view(out_f32_.size(), out_f32_.data()));
  }
  void release_bytes() { std::vector<std::uint8_t>().swap(bytes_); }
  std::string last_error() const { return last_error_; }

  // --- properties (0 / "" before init; JS never calls them then) --------------------------------
  std::size_t dim() const { return index_ ? index_->dim() : 0; }
  std::size_t size() const { return index_ ? index_->size() : 0; }
  std::size_t deleted_count() const { return index_ ? index_->deleted_count() : 0; }
  double tombstone_ratio() const { return index_ ? index_->tombstone_ratio() : 0.0; }
  double memory_bytes() const {
    return index_ ? static_cast<double>(index_->memory_bytes() + buffer_bytes()) : 0.0;
  }
  std::string metric() const {
    return index_ ? std::string(pocketvec::metric_name(index_->params().metric_kind)) : "";
  }
  std::string quantization() const {
    if (!index_) return "";
    return index_->params().quant == pocketvec::quantization::sq8 ? "sq8" : "none";
  }
  std::size_t m() const { return index_ ? index_->params().m : 0; }
  std::size_t ef_construction() const { return index_ ? index_->params().ef_construction : 0; }
  std::size_t ef_search() const { return index_ ? index_->params().ef_search : 0; }
  double seed() const { return index_ ? static_cast<double>(index_->params().seed) : 0.0; }

 private:
  pocketvec::index& ix() {
    if (!index_) pocketvec::detail::fail(errc::invalid_argument, "index is not initialised");
    return *index_;
  }
  pocketvec::chunked_reader& reader() {
    if (!reader_) reader_.emplace();
    return *reader_;
  }

  template <class T>
  emscripten::val stage(std::vector<T>& buffer, std::size_t n) {
    if (guard([&] { buffer.resize(n); return 0.0; }) < 0) return emscripten::val::null();
    // Made after the resize, which may have grown memory: never a view of the old buffer.
    return emscripten::val(emscripten::typed_memory_view(buffer.size(), buffer.data()));
  }

  // One catch(...) per entry point; the classification lives once, in classify_current_exception()
  // (inlining four typed handlers into every method cost ~1 KB of WASM each).
  template <class F>
  double guard(F&& f) {
    try {
      return f();
    } catch (...) {
      return classify_current_exception();
    }
  }
  [[gnu::noinline]] double classify_current_exception() {
    try {
      throw;
    } catch (const pocketvec::error& e) {
      return fail(-static_cast<int>(e.code()), e.what());
    } catch (const std::bad_alloc&) {
      // The limit is the link's -sMAXIMUM_MEMORY: 2 GiB shipped, smaller in the heap-limit test module.
      return fail(-static_cast<int>(errc::out_of_memory), "out of memory (the WebAssembly heap is limited to " +
                                                              std::to_string(emscripten_get_heap_max() >> 20) + " MiB)");
    } catch (const std::length_error& e) {
      return fail(-static_cast<int>(errc::out_of_memory), std::string("out of memory: ") + e.what());
    } catch (const std::exception& e) {
      return fail(status_internal, std::string("internal error: ") + e.what());
    } catch (...) {
      return fail(status_internal, "internal error: a non-standard exception");
    }
  }
  template <class F>
  int status(F&& f) {
    return static_cast<int>(guard(std::forward<F>(f)));
  }
  double fail(int code, std::string message) {
    last_error_ = std::move(message);
    return code;
  }

  // Staging is not kept past the call that used it once it is larger than 256 KiB: JS sends big batches
  // in 1 MiB pieces, and memoryBytes after a bulk load should be the index, not its last piece.
  void release_large_staging() {
    if (in_f32_.capacity() > (1u << 16)) std::vector<float>().swap(in_f32_);
  }
  std::size_t buffer_bytes() const {
    return (in_f32_.capacity() + out_f32_.capacity() + query_.capacity()) * sizeof(float) +
           out_u32_.capacity() * sizeof(std::uint32_t) + bytes_.capacity();
  }

  std::optional<pocketvec::index> index_;
  std::vector<float> in_f32_;
  std::vector<std::uint32_t> out_u32_;
  std::vector<float> out_f32_;
  std::vector<std::uint8_t> bytes_;
  std::vector<float> query_;  // dim() floats; allocated once per index, so its address is stable
  std::optional<pocketvec::chunked_writer> writer_;
  pocketvec::save_point point_;       // the last writer's state (markSaved)
  std::uint32_t base_digest_ = 0;     // what the last writer's segment extends
  std::span<const std::uint8_t> chunk_;
  std::optional<pocketvec::chunked_reader> reader_;
  std::string last_error_;
  double sq8_[4] = {};
};

// The bytes malloc has handed out and not yet had back, over every index of this module (JS reads
// the WebAssembly memory size itself: that is what the page pays, and it never shrinks).
double heap_used_bytes() { return static_cast<double>(mallinfo().uordblks); }

}  // namespace

EMSCRIPTEN_BINDINGS(pocketvec) {
  emscripten::function("_heapUsedBytes", &heap_used_bytes);
  using emscripten::class_;
  // Raw names start with '_': the public API is the JS class in js/src/index.js.
  class_<wasm_index>("_WasmIndex")
      .constructor<>()
      .function("init", &wasm_index::init)
      .function("stageF32", &wasm_index::stage_f32)
      .function("stageBytes", &wasm_index::stage_bytes)
      .function("insert", &wasm_index::insert)
      .function("upsert", &wasm_index::upsert)
      .function("insertBatch", &wasm_index::insert_batch)
      .function("checkBatch", &wasm_index::check_batch)
      .function("beginBatch", &wasm_index::begin_batch)
      .function("commitBatch", &wasm_index::commit_batch)
      .function("rollbackBatch", &wasm_index::rollback_batch)
      .function("search", &wasm_index::search)
      .function("searchBatch", &wasm_index::search_batch)
      .function("liveIds", &wasm_index::live_ids)
      .function("queryAddress", &wasm_index::query_address)
      .function("erase", &wasm_index::erase)
      .function("contains", &wasm_index::contains)
      .function("get", &wasm_index::get)
      .function("compact", &wasm_index::compact)
      .function("rebuild", &wasm_index::rebuild)
      .function("needsCompaction", &wasm_index::needs_compaction)
      .function("reserve", &wasm_index::reserve)
      .function("train", &wasm_index::train)
      .function("sq8Stats", &wasm_index::sq8_stats)
      .function("saveBegin", &wasm_index::save_begin)
      .function("saveNext", &wasm_index::save_next)
      .function("chunk", &wasm_index::chunk)
      .function("saveEnd", &wasm_index::save_end)
      .function("saveDigest", &wasm_index::save_digest)
      .function("appendable", &wasm_index::appendable)
      .function("markSaved", &wasm_index::mark_saved)
      .function("loadFeed", &wasm_index::load_feed)
      .function("loadFinish", &wasm_index::load_finish)
      .function("resultsU32", &wasm_index::results_u32)
      .function("resultsF32", &wasm_index::results_f32)
      .function("lastError", &wasm_index::last_error)
      .function("dim", &wasm_index::dim)
      .function("size", &wasm_index::size)
      .function("deletedCount", &wasm_index::deleted_count)
      .function("tombstoneRatio", &wasm_index::tombstone_ratio)
      .function("memoryBytes", &wasm_index::memory_bytes)
      .function("metric", &wasm_index::metric)
      .function("quantization", &wasm_index::quantization)
      .function("m", &wasm_index::m)
      .function("efConstruction", &wasm_index::ef_construction)
      .function("efSearch", &wasm_index::ef_search)
      .function("seed", &wasm_index::seed);
}
