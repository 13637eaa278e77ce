#include "sluice/core/trace.hpp"

#include "sluice/core/detail/os_thread_name.hpp"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <cpuid.h>
#endif

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <condition_variable>
#include <cstddef>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "sluice/core/detail/replace_file.hpp"
#include "sluice/core/detail/sync_directory.hpp"
#include "sluice/core/json.hpp"
#include "sluice/core/runtime.hpp"

namespace sluice {
namespace detail {

std::atomic<trace_recorder*> g_active_trace{nullptr};
std::atomic<std::uint64_t> g_trace_session{0};
std::atomic<int> g_trace_stamp_source{0};

namespace {

using clock = trace_recorder::clock;

// What a record stands for; the writer turns each into one or two events.
enum class record_kind : std::uint8_t {
  stage_section,  // "X" cat "stage", name = stage, args {items: value, chunks: detail + 1}
  channel_wait,   // cat "channel", name = "<name>: <detail>", value = the waiting coroutine (0: none):
                  // "X" on the coroutine's wait track, or "b"/"e" (see trace_recorder::channel_wait)
  async_item,     // "b"/"e" cat "item", name = stage, args {item: value}
  complete,       // "X", category/name/args serialised in the payload
  async,          // "b"/"e", category/name/args serialised in the payload
};

// One record as the traced thread appends it: fixed size, no text (the
// generic kinds carry `payload` bytes of serialised strings after it).
struct record_head {
  std::int64_t start;     // steady_clock nanoseconds since its epoch, or a TSC value (see `tsc`)
  std::int64_t end;       // likewise
  std::int64_t value;     // items, item index or waiter
  std::uint32_t name;     // interned
  std::uint32_t detail;   // interned (channel_wait's what); stage_section: chunks merged in
  std::uint32_t payload;  // bytes following (complete, async)
  record_kind kind;
  bool tsc = false;  // start and end are trace_stamp TSC values, converted by the writer
};

// A thread's records not yet handed to the writer, and how to name its track.
//
// The owning thread appends without a lock: it raises `busy` for the length
// of a record and checks the session after raising it, and finish() clears
// the session before it waits for `busy` to drop (both sequentially
// consistent, so either the record sees the session closed or finish()
// sees it busy and waits for it). A plain store on the record's side with
// membarrier(PRIVATE_EXPEDITED) in finish() was tried: it cut the record's
// CPU, but the no-work pipeline's traced wall time rose by about a fifth on
// this machine, so it was taken out. `mutex` serialises only the cold paths
// that touch a buffer from outside its record calls: finish(), the
// owner's exit, and the pruning of buffers whose thread exited.
//
// A per-thread cache in front of the session's name table (in the thread's
// buffer, reached through the one thread-local pointer a record loads
// anyway): a trace point finds its stage's id with a pointer compare and a
// short memcmp. The text
// is kept and compared, so a name whose storage is reused for another name
// cannot be mistaken for it. Two-way: a channel wait looks up two names (its
// stage's and a literal), and with one entry per slot two names that hash
// alike evicted each other on every wait, each miss taking the table's lock.
struct name_cache_entry {
  std::uint64_t session = 0;
  const char* data = nullptr;
  std::string text;
  std::uint32_t id = 0;
  [[nodiscard]] bool holds(std::uint64_t s, std::string_view t) const noexcept {
    return data == t.data() && session == s && text.size() == t.size() &&
           same_short_text(text.data(), t.data(), t.size());
  }
};

struct thread_buffer {
  std::atomic<bool> busy{false};  // the owner is appending a record
  std::mutex mutex;
  std::string data;           // records (record_head + payload), back to back
  std::uint64_t session = 0;  // the session `data` belongs to
  std::uint64_t pending = 0;  // records in `data`
  open_stage_section open;    // written by the owner only (see open_stage_section)
  std::int64_t track = 0;     // the thread id written as "tid"
  std::string name;
  bool dead = false;                            // the thread has exited
  std::array<name_cache_entry, 64> name_cache;  // the owner's (see name_id)
};

// A full buffer on its way to the writer.
struct handed_buffer {
  std::string data;
  std::uint64_t session = 0;
  std::uint64_t records = 0;
  std::int64_t track = 0;
};

// A thread's buffer goes to the writer at this size: small enough that a
// short run's buffers fill while it runs (a 20 ms no-work run of 1M items
// records about 300 KB), so the writer formats and writes them meanwhile,
// on a core the run leaves idle part of the time, and finish() has only
// the tail to write; large enough that a hand-off (a lock and a wake-up
// per 800 records) costs nothing measurable.
constexpr std::size_t k_flush_bytes = 32 * 1024;
constexpr std::size_t k_max_queued = (2u << 20) / k_flush_bytes;  // full buffers waiting for the writer: 2 MiB
constexpr std::uint32_t k_max_names = 1u << 16;                   // interned names per session
constexpr std::size_t k_max_name_bytes = 4 << 20;                 // their total size
// JSON text is written in pieces of about this size, or when the writer
// has nothing else to format (then it has the time, and finish() finds
// less to write): one write(2) per handed buffer or fewer, where a 64 KiB
// piece made two per buffer (the kernel's cost per call, beside its copy,
// was a fifth of writing a no-work run's 0.9 MB).
constexpr std::size_t k_write_chunk = 256 * 1024;
// The largest replaced trace file kept open for the next session's writer
// to release (see impl::replaced_file): its blocks stay allocated, out of
// the directory, until then.
constexpr std::int64_t k_max_held_bytes = 16 << 20;
// Channel waits get a track per (waiting coroutine, stage), up to this many
// per session (the writer's map of them stays bounded); later ones are
// async spans. Their "tid"s start above Linux's largest thread id (2^22),
// so they cannot be taken for a thread.
constexpr std::size_t k_max_wait_tracks = 4096;
constexpr std::int64_t k_wait_track_base = std::int64_t{1} << 30;

thread_local const char* t_thread_name = nullptr;

// A steady_clock reading and a trace_now() TSC stamp taken together.
struct clock_pair {
  std::int64_t ns = 0;     // steady_clock ticks
  std::int64_t ticks = 0;  // TSC
};

// The tightest of a few (steady, TSC, steady) readings: the TSC value and
// the middle of the two clock reads around it.
clock_pair read_clock_pair() noexcept {
  clock_pair best;
  std::int64_t best_gap = INT64_MAX;
  for (int i = 0; i < 5; ++i) {
    const auto before = trace_ticks(clock::now());
    const auto tsc = trace_now().value;
    const auto after = trace_ticks(clock::now());
    if (after - before < best_gap) {
      best_gap = after - before;
      best = {before + (after - before) / 2, tsc};
    }
  }
  return best;
}

// Whether the TSC can stand in for steady_clock: invariant (CPUID
// 0x80000007, EDX bit 8: constant rate, running in deep sleep states) and
// the kernel's clocksource is "tsc" (it found the counters in step across
// CPUs, so a wait that ends on another CPU than it began on measures right).
bool tsc_is_usable() noexcept {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0x80000007u, &a, &b, &c, &d) == 0 || (d & (1u << 8)) == 0) return false;
  const int fd = ::open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char text[16] = {};
  const auto n = ::read(fd, text, sizeof text - 1);
  ::close(fd);
  return n >= 3 && std::string_view(text, static_cast<std::size_t>(n)).substr(0, 4) == "tsc\n";
#else
  return false;
#endif
}

}  // namespace

struct trace_recorder::impl {
  std::mutex registry_mutex;  // guards `buffers`
  std::vector<std::unique_ptr<thread_buffer>> buffers;
  std::atomic<std::uint64_t>& session = g_trace_session;  // the recording session, 0 while none
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<bool> claimed{false};  // a trace_session exists (cleared in a forked child)
  std::uint64_t last_session = 0;    // guarded by registry_mutex
  std::int64_t origin = 0;           // ticks; written before `session` is published

  // The process's one session slot: claim_slot() is false when a session
  // holds it; release_slot() frees it (a session's end or failed start).
  bool claim_slot() noexcept { return !claimed.exchange(true); }
  void release_slot() noexcept { claimed.store(false); }
  // A (steady_clock ticks, TSC) pair read at the process's first session
  // start, before any writer thread starts, then kept: the writers convert
  // TSC stamps with the rate between it and a pair of their own (see
  // tsc_converter), over a baseline that only grows.
  clock_pair tsc_anchor{};
  std::int64_t pid = 0;

  // Interned names of the current session (id 0: the table was full).
  std::mutex names_mutex;
  std::unordered_map<std::string, std::uint32_t> name_ids;
  std::vector<std::string> names;
  std::size_t name_bytes = 0;

  // The writer thread, its queue of full buffers and its orders (all
  // guarded by queue_mutex). The writer is started by the process's first
  // session and then kept, blocked on queue_ready between sessions (no
  // CPU): a session neither creates, names nor joins a thread, which was
  // 0.5% of a traced 25 ms run here. A session start hands it
  // `session_head` to write first (and the previous trace to release);
  // finish() hands it `closing` and waits until it has written everything
  // (`drained`). A forked child has no writer thread, and the parent's
  // writer may have been inside the mutex or registered as the condition
  // variables' waiter when fork() copied them: the fork handler forgets
  // the copied link in the child (a few hundred bytes, abandoned), whose
  // first session starts a writer with a link of its own.
  struct writer_link {
    std::mutex queue_mutex;
    std::condition_variable queue_ready;  // writer: work, a start or a drain
    std::condition_variable queue_room;   // recorders: room in the queue
    std::condition_variable writer_done;  // finish(): `drained`
    std::deque<handed_buffer> queue;
    std::vector<std::string> spare;  // emptied buffers, capacity kept
    bool stopping = true;            // no session takes buffers
    bool start_pending = false;      // a session started: the writer writes `session_head` first
    std::string session_head;        // the file's opening text (one event)
    bool drain = false;              // finish(): format the queue, write `closing`, then set `drained`
    bool drained = false;
    std::string closing;  // the thread names (`closing_events` events); the writer adds the end
    std::uint64_t closing_events = 0;
  };
  // This process's link, set by the session start that starts its writer
  // (before the session is published, so recorders see it); never freed.
  // Null in a forked child until its first session (see the fork handlers).
  writer_link* link = nullptr;

  std::mutex file_mutex;  // guards everything below
  int fd = -1;
  std::uint64_t file_session = 0;
  std::string temp_path;
  int write_error = 0;
  std::uint64_t written_events = 0;
  std::uint64_t written_bytes = 0;
  // The trace file the last finish() replaced, unlinked but still open
  // (see replace_file): closing it frees its pages, 100-130 us for a 1 MB
  // trace, which finish() leaves to the next session's writer thread, off
  // the traced run's path. -1 when none. At most one, of at most
  // k_max_held_bytes (a larger one is closed at once); the process's exit
  // closes it if no session follows.
  int replaced_file = -1;

  // Appends `data` to the file (file_mutex held); counts `events` as lost on failure.
  void write_locked(std::string_view data, std::uint64_t events) {
    if (fd < 0 || write_error != 0) {
      dropped.fetch_add(events, std::memory_order_relaxed);
      return;
    }
    while (!data.empty()) {
      const auto n = ::write(fd, data.data(), data.size());
      if (n < 0) {
        if (errno == EINTR) continue;
        write_error = errno;
        dropped.fetch_add(events, std::memory_order_relaxed);
        return;
      }
      data.remove_prefix(static_cast<std::size_t>(n));
      written_bytes += static_cast<std::uint64_t>(n);
    }
    written_events += events;
  }

  std::uint32_t intern(std::string_view text) {
    std::lock_guard lock(names_mutex);
    if (auto it = name_ids.find(std::string(text)); it != name_ids.end()) return it->second;
    if (names.size() >= k_max_names || name_bytes + text.size() > k_max_name_bytes) return 0;
    const auto id = static_cast<std::uint32_t>(names.size());
    names.emplace_back(text);
    name_bytes += text.size();
    name_ids.emplace(std::string(text), id);
    return id;
  }

  void reset_names() {
    std::lock_guard lock(names_mutex);
    name_ids.clear();
    names.clear();
    names.emplace_back("(too many names)");
    name_bytes = 0;
  }

  // Hands `b`'s records to the writer, waiting while the queue is full.
  // Called by the owner inside a record (busy raised) or at its exit
  // (b.mutex held), or by finish() (b.mutex held, after busy dropped).
  // Either keeps finish() from closing the session under a buffer in
  // transit; the writer needs neither, so it always drains.
  void hand_off_locked(thread_buffer& b) {
    if (b.pending == 0) return;
    // No writer in this process (a session forked mid-run), or no session
    // taking buffers: the records are lost, counted.
    auto drop = [&] {
      dropped.fetch_add(b.pending, std::memory_order_relaxed);
      b.pending = 0;
      b.data.clear();
    };
    if (link == nullptr) return drop();
    auto& l = *link;
    std::unique_lock lock(l.queue_mutex);
    l.queue_room.wait(lock, [&] { return l.queue.size() < k_max_queued || l.stopping; });
    if (l.stopping) return drop();
    l.queue.push_back(handed_buffer{std::move(b.data), b.session, b.pending, b.track});
    b.pending = 0;
    if (!l.spare.empty()) {
      b.data = std::move(l.spare.back());
      l.spare.pop_back();
    } else {
      b.data = std::string();
    }
    lock.unlock();
    l.queue_ready.notify_one();
  }

  void run_writer(writer_link& l);
  // Starts the process's writer thread if it has none, and has it write
  // `head` first (then this session's buffers). Throws std::system_error
  // when the thread cannot be started (nothing changed then). Called by a
  // session start only (one at a time: the session slot is claimed).
  void start_writing(std::string head) {
    if (link == nullptr) {  // the process's first session, or a forked child's
      auto fresh = std::make_unique<writer_link>();
      std::thread writer([this, l = fresh.get()] { run_writer(*l); });
      name_os_thread(writer, "sluice-trace");
      writer.detach();         // never joined: it outlives every session (see writer_link)
      link = fresh.release();  // never freed, like the recorder
    }
    auto& l = *link;
    std::unique_lock lock(l.queue_mutex);
    l.stopping = false;
    l.start_pending = true;
    l.session_head = std::move(head);
    lock.unlock();
    l.queue_ready.notify_one();
  }
  // Closes replaced_file, if any (file_mutex not held).
  void release_replaced_file() noexcept {
    int file = -1;
    {
      std::lock_guard lock(file_mutex);
      file = std::exchange(replaced_file, -1);
    }
    if (file >= 0) ::close(file);
  }
  // Keeps `file` (an unlinked trace, from replace_file) for the next
  // writer to close, or closes it now if it is large (file_mutex held).
  void hold_replaced_file_locked(int file) noexcept {
    if (file < 0) return;
    struct stat st {};
    if (replaced_file >= 0 || ::fstat(file, &st) != 0 || st.st_size > k_max_held_bytes) {
      ::close(file);
      return;
    }
    replaced_file = file;
  }
  struct writer_names;
  class text_out;
  void format(const handed_buffer& buffer, writer_names& names_seen, std::uint64_t& next_id, text_out& out);
  void write_out(text_out& out);  // writes and empties `out`
  // Writes `out`, then `text` (finish()'s thread names, `text_events`
  // events) and the file's closing.
  void finish_file(text_out& out, std::string& text, std::uint64_t text_events);
};

namespace {

trace_recorder::impl& recorder_state();

// fork() handlers, the one place the recorder deals with fork(). The
// recorder's mutexes are held across the fork (in the order the recorder
// takes them: registry, file, names), so the child gets them unlocked,
// never held by a thread it does not have (the parent's writer takes
// file_mutex and names_mutex as it formats, and a child's session start
// takes all three). In the child (one thread, so the state is touched
// without the locks; closing is async-signal-safe, as a fork handler must
// be), the session is the parent's: its trace points see none from its
// first instruction, the parent's files are left as they are (only this
// process's copies of their descriptors are closed), the parent's writer
// link is forgotten, and the session slot is free for a session of the
// child's own.
void lock_recorder_for_fork() noexcept {
  auto& s = recorder_state();
  s.registry_mutex.lock();
  s.file_mutex.lock();
  s.names_mutex.lock();
}
void unlock_recorder_after_fork() noexcept {
  auto& s = recorder_state();
  s.names_mutex.unlock();
  s.file_mutex.unlock();
  s.registry_mutex.unlock();
}
void reset_recorder_in_child() noexcept {
  unlock_recorder_after_fork();
  g_active_trace.store(nullptr, std::memory_order_relaxed);
  g_trace_session.store(0, std::memory_order_relaxed);
  auto& s = recorder_state();
  if (s.fd >= 0) ::close(s.fd);
  if (s.replaced_file >= 0) ::close(s.replaced_file);
  s.fd = -1;
  s.replaced_file = -1;
  s.file_session = 0;
  s.link = nullptr;
  s.release_slot();
}

trace_recorder::impl& recorder_state() {
  static auto* state = [] {
    auto* made = new trace_recorder::impl();  // never freed: see trace_recorder
    ::pthread_atfork(lock_recorder_for_fork, unlock_recorder_after_fork, reset_recorder_in_child);
    return made;
  }();
  return *state;
}

trace_recorder& recorder() {
  static auto* r = new trace_recorder(&recorder_state());
  return *r;
}

std::string name_this_thread(std::int64_t tid) {
  if (t_thread_name) return t_thread_name;
  if (runtime::current() != nullptr) {
    const int slot = tbb::this_task_arena::current_thread_index();
    if (slot >= 0) return "arena worker " + std::to_string(slot);
    return "arena thread";
  }
  if (tid == static_cast<std::int64_t>(::getpid())) return "main";
  return "thread " + std::to_string(tid);
}

// Appends `head` to `b`'s records (the caller owns `b`: its owner with
// `busy` raised, or a cold path holding `mutex` with `busy` down).
void append_head(thread_buffer& b, const record_head& head) {
  if (b.data.capacity() < k_flush_bytes) b.data.reserve(k_flush_bytes + 4096);
  b.data.append(reinterpret_cast<const char*>(&head), sizeof head);
  ++b.pending;
}

// Moves `b`'s open section, if it belongs to `b`'s session, into its
// records (same ownership as append_head).
void close_open_section(thread_buffer& b) {
  auto& o = b.open;
  if (b.session == 0 || o.session.load(std::memory_order_relaxed) != b.session) return;
  const record_head head{o.start.load(std::memory_order_relaxed),
                         o.end.load(std::memory_order_relaxed),
                         o.items.load(std::memory_order_relaxed),
                         o.name.load(std::memory_order_relaxed),
                         o.chunks.load(std::memory_order_relaxed),
                         0,
                         record_kind::stage_section};
  append_head(b, head);  // may throw (out of memory): the section then stays open
  o.session.store(0, std::memory_order_relaxed);
}

// The calling thread's buffer, registered on first use; its owner marks it
// dead when the thread exits, after handing over what it still holds.
// Two thread-locals: `t_buffer`, a plain pointer (constant-initialised and
// trivially destructible, so reading it is one load, with no call to a TLS
// wrapper checking an initialisation guard on every record), and `t_slot`,
// touched once per thread, whose destructor does the exit's work. The
// destructor leaves `t_buffer` set: a record made later in the thread's
// exit (by another thread-local's destructor) goes to the dead buffer,
// which finish() still hands over while its session records.
constinit thread_local thread_buffer* t_buffer = nullptr;

struct thread_slot {
  thread_buffer* buffer = nullptr;
  ~thread_slot() {
    if (!buffer) return;
    auto& s = recorder_state();
    std::lock_guard lock(buffer->mutex);
    // The writer keeps them if their session's file is still open (even
    // while finish() runs), and counts them as dropped otherwise.
    try {
      close_open_section(*buffer);
    } catch (...) {
      s.dropped.fetch_add(1, std::memory_order_relaxed);  // out of memory: the section is lost, counted
    }
    s.hand_off_locked(*buffer);
    buffer->data = std::string();
    buffer->dead = true;
  }
};
thread_local thread_slot t_slot;

[[gnu::noinline]] thread_buffer& register_this_thread(trace_recorder::impl& s) {
  auto owned = std::make_unique<thread_buffer>();
  owned->track = static_cast<std::int64_t>(::gettid());
  auto* raw = owned.get();
  {
    std::lock_guard lock(s.registry_mutex);
    s.buffers.push_back(std::move(owned));
  }
  t_slot.buffer = raw;
  t_buffer = raw;
  t_open_stage_section = &raw->open;
  return *raw;
}

thread_buffer& this_thread_buffer(trace_recorder::impl& s) {
  if (t_buffer != nullptr) [[likely]]
    return *t_buffer;
  return register_this_thread(s);
}

// name_id()'s miss: interns `text` and caches it in the pair at `first`,
// the pair's older entry making room. Out of line, so the hit path
// spills no registers.
[[gnu::noinline]] std::uint32_t name_id_miss(trace_recorder::impl& s, thread_buffer& b, std::size_t first,
                                             std::uint64_t session, std::string_view text) {
  const auto id = s.intern(text);
  auto& recent = b.name_cache[first];
  auto& older = b.name_cache[first + 1];
  // The pair's older entry goes; the newest is looked at first.
  std::swap(recent, older);
  recent.session = session;
  recent.data = text.data();
  recent.text.assign(text);
  recent.id = id;
  return id;
}

// The id of `text` in `session`, through `b`'s cache (`b` is the calling
// thread's own buffer).
inline std::uint32_t name_id(trace_recorder::impl& s, thread_buffer& b, std::uint64_t session, std::string_view text) {
  const auto hash = (reinterpret_cast<std::uintptr_t>(text.data()) ^ text.size()) * 0x9E3779B97F4A7C15ull;
  const auto first = static_cast<std::size_t>(hash >> 59) * 2;  // a pair of entries: [first], [first + 1]
  if (const auto& recent = b.name_cache[first]; recent.holds(session, text)) [[likely]]
    return recent.id;
  if (const auto& older = b.name_cache[first + 1]; older.holds(session, text)) return older.id;
  return name_id_miss(s, b, first, session, text);
}

// Serialisation of the generic records' strings and arguments.
void put_bytes(std::string& out, const void* p, std::size_t n) { out.append(static_cast<const char*>(p), n); }
void put_u32(std::string& out, std::uint32_t v) { put_bytes(out, &v, sizeof v); }
void put_i64(std::string& out, std::int64_t v) { put_bytes(out, &v, sizeof v); }
void put_text(std::string& out, std::string_view text) {
  const auto n = static_cast<std::uint32_t>(std::min<std::size_t>(text.size(), UINT32_MAX));
  put_u32(out, n);
  out.append(text.data(), n);
}

struct payload_reader {
  std::string_view rest;
  template <typename T>
  T get() {
    T v{};
    std::memcpy(&v, rest.data(), sizeof v);
    rest.remove_prefix(sizeof v);
    return v;
  }
  std::string_view text() {
    const auto n = get<std::uint32_t>();
    auto t = rest.substr(0, n);
    rest.remove_prefix(n);
    return t;
  }
};

// Raises a buffer's `busy` flag for the length of a record (see thread_buffer).
class busy_scope {
 public:
  explicit busy_scope(thread_buffer& b) noexcept : m_buffer(b) { b.busy.exchange(true, std::memory_order_seq_cst); }
  ~busy_scope() { m_buffer.busy.store(false, std::memory_order_release); }
  busy_scope(const busy_scope&) = delete;
  busy_scope& operator=(const busy_scope&) = delete;

 private:
  thread_buffer& m_buffer;
};

// The start of a record on `b` with `busy` raised: the current session
// (0 when finish() closed it: the record is counted as dropped), `b`
// emptied when it held an earlier session's records.
std::uint64_t begin_record(trace_recorder::impl& s, thread_buffer& b) {
  const auto session = s.session.load(std::memory_order_seq_cst);  // after raising busy: see thread_buffer
  if (session == 0) {                                              // finish() ran meanwhile
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return 0;
  }
  if (b.session != session) {  // first event of this thread in this session
    b.data.clear();
    b.pending = 0;
    b.session = session;
    b.name = name_this_thread(b.track);
  }
  return session;
}

// Appends one record to the calling thread's buffer for the current
// session, after closing its open section: `name(head, buffer, session)`
// sets the head's interned names, `fill` writes the payload (if any) after
// the head and returns whether it did.
template <typename Name, typename Fill>
void record(trace_recorder::impl& s, record_head head, Name&& name, Fill&& fill) {
  if (s.session.load(std::memory_order_acquire) == 0) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto& b = this_thread_buffer(s);
  busy_scope busy(b);
  const auto session = begin_record(s, b);
  if (session == 0) return;
  name(head, b, session);
  close_open_section(b);
  const auto at = b.data.size();
  append_head(b, head);
  try {
    if (fill(b.data, session)) {
      head.payload = static_cast<std::uint32_t>(b.data.size() - at - sizeof head);
      std::memcpy(b.data.data() + at, &head, sizeof head);
    }
  } catch (...) {
    b.data.resize(at);  // no half record
    --b.pending;
    throw;
  }
  if (b.data.size() >= k_flush_bytes) s.hand_off_locked(b);
}

// record()'s `name` for records whose strings are in their payload.
constexpr auto no_names = [](record_head&, thread_buffer&, std::uint64_t) noexcept {};

// Raw-cursor writers for text_out::room(): each returns the new end.
// Room needed: a number takes at most k_number_room bytes.
constexpr std::size_t k_number_room = 24;

char* put(char* p, std::string_view text) noexcept {
  std::memcpy(p, text.data(), text.size());
  return p + text.size();
}

// Decimal digits without a division or a table load per digit: v
// (< 10^8) as eight digit values 0-9, one per byte, the most significant in
// the lowest byte (so one little-endian store writes them in order), split
// in SWAR steps, each a multiply and shift on all lanes at once: 10^4
// halves, then hundreds, then tens (P. Khuong's encode_ten_thousands;
// checked against snprintf for every v < 10^8 when written, and at the
// boundaries by Trace.NumbersOfEveryLengthAreWrittenExactly). The writer
// formats four numbers per event; the digit-pair loop it replaces, with
// its copy out of a scratch buffer, was two fifths of its instructions.
constexpr std::uint64_t eight_digits(std::uint32_t v) noexcept {
  const std::uint64_t merged = (v / 10000) | (std::uint64_t{v % 10000} << 32);
  const std::uint64_t top = ((merged * 10486) >> 20) & ((std::uint64_t{0x7F} << 32) | 0x7F);
  const std::uint64_t bot = merged - 100 * top;
  const std::uint64_t hundreds = (bot << 16) + top;
  std::uint64_t tens = (hundreds * 103) >> 10;
  tens &= (std::uint64_t{0xF} << 48) | (std::uint64_t{0xF} << 32) | (std::uint64_t{0xF} << 16) | 0xF;
  tens += (hundreds - 10 * tens) << 8;
  return tens;
}
static_assert(eight_digits(12345678) == 0x0807060504030201ull);

constexpr std::uint64_t k_ascii_zeros = 0x3030303030303030ull;
static_assert(std::endian::native == std::endian::little, "the digit words are stored little-endian");

// v (< 10^8) in as many digits as it needs; stores 8 bytes at p whatever its length.
char* put_short_unsigned(char* p, std::uint32_t v) noexcept {
  const auto digits = eight_digits(v);
  // Leading zero digits are the low zero bytes; 0 keeps one.
  const auto leading = digits == 0 ? 7 : std::countr_zero(digits) / 8;
  const auto text = (digits + k_ascii_zeros) >> (8 * leading);
  std::memcpy(p, &text, sizeof text);
  return p + (8 - leading);
}

// All eight digits of v (< 10^8), leading zeros kept.
char* put_eight_digits(char* p, std::uint32_t v) noexcept {
  const auto text = eight_digits(v) + k_ascii_zeros;
  std::memcpy(p, &text, sizeof text);
  return p + 8;
}

// v in decimal; may store up to 16 bytes at p whatever its length.
char* put_unsigned(char* p, std::uint64_t v) noexcept {
  constexpr std::uint64_t e8 = 100'000'000;
  if (v < 10) {  // chunk counts, short durations: most numbers but the timestamps
    *p = static_cast<char>('0' + v);
    return p + 1;
  }
  if (v < e8) [[likely]]
    return put_short_unsigned(p, static_cast<std::uint32_t>(v));
  if (v < e8 * e8) {
    p = put_short_unsigned(p, static_cast<std::uint32_t>(v / e8));
    return put_eight_digits(p, static_cast<std::uint32_t>(v % e8));
  }
  return std::to_chars(p, p + 20, v).ptr;
}

char* put_number(char* p, std::int64_t value) noexcept {
  if (value >= 0) return put_unsigned(p, static_cast<std::uint64_t>(value));
  *p++ = '-';
  return put_unsigned(p, std::uint64_t{0} - static_cast<std::uint64_t>(value));
}

// ".000" to ".999", as 4-byte words to store (little-endian, as the
// digits above).
constexpr auto k_decimals = [] {
  std::array<std::uint32_t, 1000> t{};
  for (std::uint32_t i = 0; i < 1000; ++i)
    t[i] = '.' | (('0' + i / 100) << 8) | (('0' + i / 10 % 10) << 16) | (('0' + i % 10) << 24);
  return t;
}();

// Nanoseconds as microseconds with three decimals (Chrome's unit): the
// whole microseconds, then ".ddd" in one 4-byte store.
char* put_micros(char* p, std::int64_t ns) noexcept {
  const auto v = ns < 0 ? std::uint64_t{0} : static_cast<std::uint64_t>(ns);
  p = put_unsigned(p, v / 1000);
  std::memcpy(p, &k_decimals[v % 1000], sizeof(std::uint32_t));
  return p + 4;
}

// "0x1f" (without quotes).
char* put_hex_id(char* p, std::uint64_t id) noexcept {
  p[0] = '0';
  p[1] = 'x';
  return std::to_chars(p + 2, p + 2 + 16, id, 16).ptr;
}

// "12.345": nanoseconds as microseconds with three decimals (Chrome's unit).
std::string_view micros(char (&buf)[32], std::int64_t ns) {
  return {buf, static_cast<std::size_t>(put_micros(buf, ns) - buf)};
}

std::string_view hex_id(char (&buf)[32], std::uint64_t id) {
  return {buf, static_cast<std::size_t>(put_hex_id(buf, id) - buf)};
}

// The fields every event has, written through json_writer; `category`
// and `name` are JSON string literals already (escaped once per name, see
// writer_names). The caller adds args (if any) and closes the object.
void begin_event(json_writer& w, std::string_view phase, std::string_view category_json, std::string_view name_json,
                 std::int64_t pid, std::int64_t tid, std::int64_t ts_ns) {
  char buf[32];
  w.begin_object();
  w.field("ph", phase);
  w.key("cat");
  w.raw(category_json);
  w.key("name");
  w.raw(name_json);
  w.field_num("pid", pid);
  w.field_num("tid", tid);
  w.key("ts");
  w.raw(micros(buf, ts_ns));
}

void write_async_id(json_writer& w, std::uint64_t id) {
  char buf[32];
  w.field("id", hex_id(buf, id));
}

// Writes the serialised args of a generic record as an "args" object.
void write_payload_args(json_writer& w, payload_reader& r) {
  const auto count = r.get<std::uint32_t>();
  if (count == 0) return;
  w.key("args");
  w.begin_object();
  for (std::uint32_t i = 0; i < count; ++i) {
    const auto is_number = r.get<std::uint8_t>();
    const auto key = r.text();
    if (is_number != 0) {
      w.field_num(key, r.get<std::int64_t>());
    } else {
      w.field(key, r.text());
    }
  }
  w.end_object();
}

}  // namespace

// The JSON text of a hot record's events that depends only on its kind and
// names, built once per session with json_writer: a "b"/"X" event up to its
// "tid" value, the matching "e" prefix, and the "args" object with the
// closing brace. Per event the writer then appends only numbers.
struct event_template {
  std::string begin;     // {"ph":"X"|"b","cat":..,"name":..,"pid":N,"tid":
  std::string end;       // {"ph":"e","cat":..,"name":..,"pid":N,"tid":   (async kinds)
  std::string args;      // ,"args":{..}}  (constant args; numeric ones are appended)
  std::string complete;  // channel waits: {"ph":"X","cat":"channel","name":..,"pid":N,"tid":
};

// A stage section's args up to its item count (then its chunks and "}}").
constexpr std::string_view k_stage_args = ",\"args\":{\"items\":";

// A hot event's text up to its timestamp's value, for one template on one
// track: ",\n" + the template's prefix + the track + ",\"ts\":". Copied
// whole per event, in one fixed-size copy when it fits k_block (no
// memcpy call, no track number formatted per event: a wait's 10-digit
// track was formatted on every wait).
struct event_head {
  static constexpr std::size_t k_block = 128;
  std::string text;  // the head, zero-padded to at least k_block bytes
  std::size_t size = 0;
  const event_template* t = nullptr;
};

// The writer thread's copy of the interned names, and the templates made
// from them, so a name is escaped once per session, not per event.
namespace {

// A direct-mapped cache of recent finds in a node-based map (whose values
// stay where they are): a writer's events take turns among a handful of
// templates and wait tracks, and a hash map's find (a division by its
// bucket count) or a tree's walk was a tenth of formatting an event.
template <typename Key, typename Value>
class recent_finds {
 public:
  [[nodiscard]] const Value* find(const Key& key, std::uint64_t hash) const noexcept {
    const auto& entry = m_slots[index(hash)];
    return entry.value != nullptr && entry.key == key ? entry.value : nullptr;
  }
  void remember(const Key& key, std::uint64_t hash, const Value& value) noexcept {
    m_slots[index(hash)] = entry_type{key, &value};
  }

 private:
  struct entry_type {
    Key key{};
    const Value* value = nullptr;
  };
  static std::size_t index(std::uint64_t hash) noexcept {
    return static_cast<std::size_t>((hash * 0x9E3779B97F4A7C15ull) >> 58);  // 64 slots
  }
  std::array<entry_type, 64> m_slots{};
};

}  // namespace

struct trace_recorder::impl::writer_names {
  // A deque: views of its names stay valid while later names are appended
  // (a channel wait's template reads its stage name, then its detail).
  std::deque<std::string> raw;
  std::unordered_map<std::uint64_t, event_template> templates;  // (kind, name, detail) -> template
  recent_finds<std::uint64_t, event_template> recent_templates;
  // The channel-wait tracks: (waiting coroutine, stage name id) -> "tid".
  using wait_key = std::pair<std::int64_t, std::uint32_t>;
  std::map<wait_key, std::int64_t> wait_tracks;
  recent_finds<wait_key, std::int64_t> recent_tracks;
  // The hot events' heads: (template key, track) -> head. Emptied when it
  // reaches k_max_heads (a session with very many threads and stages).
  using head_key = std::pair<std::uint64_t, std::int64_t>;
  static constexpr std::size_t k_max_heads = 1 << 14;
  std::map<head_key, event_head> heads;
  recent_finds<head_key, event_head> recent_heads;
};

// The writer's JSON text before it goes to the file. The hot events are
// formatted with raw stores at a cursor (room(n), then done(end)) rather
// than a dozen std::string appends each: formatting is most of what a
// trace costs, and it runs on the same cores as the traced program.
class trace_recorder::impl::text_out {
 public:
  /// A cursor with room for `n` more bytes; pass the end of what was written to done().
  char* room(std::size_t n) {
    if (m_capacity - m_size < n) grow(n);
    return m_data.get() + m_size;
  }
  void done(const char* end) noexcept { m_size = static_cast<std::size_t>(end - m_data.get()); }
  void append(std::string_view text) {
    char* p = room(text.size());
    std::memcpy(p, text.data(), text.size());
    done(p + text.size());
  }
  [[nodiscard]] std::string_view text() const noexcept { return {m_data.get(), m_size}; }
  [[nodiscard]] std::size_t size() const noexcept { return m_size; }
  /// Events in text() (counted as written, or as dropped if writing fails).
  void add_events(std::uint64_t n) noexcept { m_events += n; }
  [[nodiscard]] std::uint64_t events() const noexcept { return m_events; }
  void clear() noexcept {
    m_size = 0;
    m_events = 0;
  }

 private:
  void grow(std::size_t n) {
    const auto capacity = std::max(2 * m_capacity, m_size + n + k_write_chunk);
    auto data = std::make_unique_for_overwrite<char[]>(capacity);
    if (m_size != 0) std::memcpy(data.get(), m_data.get(), m_size);
    m_data = std::move(data);
    m_capacity = capacity;
  }

  std::unique_ptr<char[]> m_data;
  std::size_t m_size = 0;
  std::size_t m_capacity = 0;
  std::uint64_t m_events = 0;
};

namespace {

// {"ph":<phase>,"cat":<category>,"name":<name>,"pid":<pid>,"tid":  (left open for the tid)
std::string event_prefix(std::string_view phase, std::string_view category, std::string_view name, std::int64_t pid) {
  std::string text;
  json_writer w(text);
  w.begin_object();
  w.field("ph", phase);
  w.field("cat", category);
  w.field("name", name);
  w.field_num("pid", pid);
  w.key("tid");
  return text;
}

}  // namespace

namespace {

// Converts TSC stamps (trace_stamp) to steady_clock ticks for one format()
// call, at the rate between the process's anchor pair and a pair read at
// the call's first TSC record. The rate's error is the reads' jitter (tens
// of ns) over the baseline, and a stamp is at most a baseline after the
// anchor, so a stamp is off by about that jitter.
class tsc_converter {
 public:
  explicit tsc_converter(clock_pair anchor) noexcept : m_anchor(anchor) {}
  std::int64_t operator()(std::int64_t tsc) noexcept {
    if (m_ns_per_tick == 0) m_ns_per_tick = rate();
    return m_anchor.ns + std::llround(static_cast<double>(tsc - m_anchor.ticks) * m_ns_per_tick);
  }

 private:
  // A baseline of at least 100 us: only the process's first trace can get
  // here sooner, and waits that long once.
  static constexpr std::int64_t k_min_baseline_ns = 100'000;
  [[nodiscard]] double rate() const noexcept {
    auto now = read_clock_pair();
    while (now.ns - m_anchor.ns < k_min_baseline_ns) now = read_clock_pair();
    const auto ticks = now.ticks - m_anchor.ticks;
    return ticks > 0 ? static_cast<double>(now.ns - m_anchor.ns) / static_cast<double>(ticks) : 1.0;
  }

  clock_pair m_anchor;
  double m_ns_per_tick = 0;
};

}  // namespace

// Turns one handed-over buffer into JSON events in `out`, writing `out` to
// the file whenever it passes k_write_chunk. Runs on the writer thread.
void trace_recorder::impl::format(const handed_buffer& buffer, writer_names& seen, std::uint64_t& next_id,
                                  text_out& out) {
  auto raw_name = [&](std::uint32_t id) -> std::string_view {
    if (id >= seen.raw.size()) {
      std::lock_guard lock(names_mutex);
      for (std::size_t i = seen.raw.size(); i < names.size(); ++i) seen.raw.push_back(names[i]);
    }
    return id < seen.raw.size() ? std::string_view(seen.raw[id]) : std::string_view("(unknown)");
  };
  auto template_key = [](const record_head& h) {
    const std::uint32_t detail = h.kind == record_kind::channel_wait ? h.detail : 0;  // a name only there
    return (static_cast<std::uint64_t>(h.kind) << 56) | (static_cast<std::uint64_t>(h.name) << 28) |
           (detail & 0xFFFFFFFu);
  };
  auto template_for = [&](const record_head& h) -> const event_template& {
    const auto key = template_key(h);
    if (const auto* recent = seen.recent_templates.find(key, key)) return *recent;
    if (auto it = seen.templates.find(key); it != seen.templates.end()) {
      seen.recent_templates.remember(key, key, it->second);
      return it->second;
    }
    event_template t;
    const auto name = raw_name(h.name);
    if (h.kind == record_kind::stage_section) {
      t.begin = event_prefix("X", "stage", name, pid);
      t.args = k_stage_args;
    } else if (h.kind == record_kind::channel_wait) {
      const auto what = raw_name(h.detail);
      std::string joined;
      joined.append(name).append(": ").append(what);
      // No args: the name says the stage and the wait. The "e" keeps
      // "cat" and "name": chrome://tracing pairs a "b" with its "e" by
      // cat and id, then by name (Perfetto needs only cat and id).
      t.complete = event_prefix("X", "channel", joined, pid);
      t.begin = event_prefix("b", "channel", joined, pid);
      t.end = event_prefix("e", "channel", joined, pid);
      t.args = "}";
    } else {  // async_item
      t.begin = event_prefix("b", "item", name, pid);
      t.end = event_prefix("e", "item", name, pid);
      t.args = ",\"args\":{\"item\":";  // the index follows, then "}}"
    }
    const auto& made = seen.templates.emplace(key, std::move(t)).first->second;
    seen.recent_templates.remember(key, key, made);
    return made;
  };
  std::uint64_t events = 0;
  std::string_view rest(buffer.data);
  char tid_buf[k_number_room];
  const std::string_view tid(tid_buf, static_cast<std::size_t>(put_number(tid_buf, buffer.track) - tid_buf));
  std::string category, name, text;  // a generic record's, quoted, and its event
  // An event's start: the separator, its template's text up to "tid":, the
  // track and its timestamp.
  auto put_head = [](char* p, std::string_view prefix, std::string_view track, auto at) {
    p = put(p, ",\n");
    p = put(p, prefix);
    p = put(p, track);
    p = put(p, ",\"ts\":");
    return put_micros(p, at);
  };
  // The head of a stage section's or a tracked wait's event on `track` (see event_head).
  auto head_for = [&](const record_head& h, std::int64_t track) -> const event_head& {
    const writer_names::head_key key{template_key(h), track};
    const auto hash = key.first ^ (static_cast<std::uint64_t>(track) * 0xFF51AFD7ED558CCDull);
    if (const auto* recent = seen.recent_heads.find(key, hash)) [[likely]]
      return *recent;
    if (auto it = seen.heads.find(key); it != seen.heads.end()) {
      seen.recent_heads.remember(key, hash, it->second);
      return it->second;
    }
    if (seen.heads.size() >= writer_names::k_max_heads) {
      seen.heads.clear();
      seen.recent_heads = {};
    }
    const auto& t = template_for(h);
    event_head made;
    made.text.append(",\n").append(h.kind == record_kind::channel_wait ? t.complete : t.begin);
    made.text.append(std::to_string(track)).append(",\"ts\":");
    made.size = made.text.size();
    made.text.resize(std::max(made.size, event_head::k_block), '\0');
    made.t = &t;
    const auto& kept = seen.heads.emplace(key, std::move(made)).first->second;
    seen.recent_heads.remember(key, hash, kept);
    return kept;
  };
  // Writes `h`'s head and its timestamp `at`.
  auto put_known_head = [](char* p, const event_head& h, std::int64_t at) {
    if (h.size <= event_head::k_block) [[likely]] {
      std::memcpy(p, h.text.data(), event_head::k_block);  // a fixed size: inline, no call
      p += h.size;
    } else {
      p = put(p, {h.text.data(), h.size});
    }
    return put_micros(p, at);
  };
  // Room for a head and its event's text after it.
  auto head_room = [](const event_head& h) { return std::max(h.size, event_head::k_block) + h.t->args.size(); };
  // Room for an event's numbers and fixed keys, beside its template's text.
  constexpr std::size_t numbers_room = 8 * k_number_room + 64;
  // The track of a channel wait's coroutine in `stage` (0: none, an async
  // span then); the first wait on a track names it first.
  auto wait_track = [&](std::int64_t waiter, std::uint32_t stage_id) -> std::int64_t {
    if (waiter == 0) return 0;
    const auto key = std::make_pair(waiter, stage_id);
    const auto hash = static_cast<std::uint64_t>(waiter) ^ (std::uint64_t{stage_id} << 40);
    if (const auto* recent = seen.recent_tracks.find(key, hash)) return *recent;
    if (auto it = seen.wait_tracks.find(key); it != seen.wait_tracks.end()) {
      seen.recent_tracks.remember(key, hash, it->second);
      return it->second;
    }
    if (seen.wait_tracks.size() >= k_max_wait_tracks) return 0;
    const auto track = k_wait_track_base + static_cast<std::int64_t>(seen.wait_tracks.size());
    text.assign(",\n");
    json_writer w(text);
    begin_event(w, "M", "\"__metadata\"", "\"thread_name\"", pid, track, 0);
    w.key("args");
    w.begin_object();
    w.field("name", std::string(raw_name(stage_id)) + ": channel waits");
    w.end_object();
    w.end_object();
    out.append(text);
    events += 1;
    seen.wait_tracks.emplace(key, track);  // after its name is out: no track without a name
    return track;
  };
  tsc_converter to_ticks(tsc_anchor);
  while (rest.size() >= sizeof(record_head)) {
    record_head h;
    std::memcpy(&h, rest.data(), sizeof h);
    rest.remove_prefix(sizeof h);
    if (h.tsc) {
      h.start = to_ticks(h.start);
      h.end = to_ticks(h.end);
    }
    payload_reader r{rest.substr(0, h.payload)};
    rest.remove_prefix(std::min<std::size_t>(h.payload, rest.size()));
    const auto ts = h.start - origin;
    const auto end = std::max(ts, h.end - origin);
    switch (h.kind) {
      case record_kind::stage_section: {
        const auto& head = head_for(h, buffer.track);
        char* p = put_known_head(out.room(head_room(head) + numbers_room), head, ts);
        p = put(p, ",\"dur\":");
        p = put_micros(p, end - ts);
        p = put(p, k_stage_args);  // a constant size: inline, where the template's string was a memcpy call
        p = put_number(p, h.value);
        p = put(p, ",\"chunks\":");
        p = put_number(p, static_cast<std::int64_t>(h.detail) + 1);
        p = put(p, "}}");
        out.done(p);
        events += 1;
        break;
      }
      case record_kind::channel_wait:
      case record_kind::async_item: {
        if (const auto track = h.kind == record_kind::channel_wait ? wait_track(h.value, h.name) : 0; track != 0) {
          const auto& head = head_for(h, track);
          char* p = put_known_head(out.room(head_room(head) + numbers_room), head, ts);
          p = put(p, ",\"dur\":");
          p = put_micros(p, end - ts);
          p = put(p, "}");
          out.done(p);
          events += 1;
          break;
        }
        const auto& t = template_for(h);
        const auto id = next_id++;
        char* p = out.room(t.begin.size() + t.args.size() + t.end.size() + 2 * tid.size() + numbers_room);
        p = put_head(p, t.begin, tid, ts);
        p = put(p, ",\"id\":\"");
        char* id_text = p;
        p = put_hex_id(p, id);
        const std::string_view id_view(id_text, static_cast<std::size_t>(p - id_text));
        p = put(p, "\"");
        p = put(p, t.args);
        if (h.kind == record_kind::async_item) {
          p = put_number(p, h.value);
          p = put(p, "}}");
        }
        p = put_head(p, t.end, tid, end);
        p = put(p, ",\"id\":\"");
        p = put(p, id_view);
        p = put(p, "\"}");
        out.done(p);
        events += 2;
        break;
      }
      case record_kind::complete: {
        char buf[32];
        text.assign(",\n");
        json_writer w(text);
        category = json_quote(r.text());
        name = json_quote(r.text());
        begin_event(w, "X", category, name, pid, buffer.track, ts);
        w.key("dur");
        w.raw(micros(buf, end - ts));
        write_payload_args(w, r);
        w.end_object();
        out.append(text);
        events += 1;
        break;
      }
      case record_kind::async: {
        const auto id = next_id++;
        category = json_quote(r.text());
        name = json_quote(r.text());
        text.assign(",\n");
        json_writer w(text);
        begin_event(w, "b", category, name, pid, buffer.track, ts);
        write_async_id(w, id);
        write_payload_args(w, r);
        w.end_object();
        text += ",\n";
        json_writer e(text);
        begin_event(e, "e", category, name, pid, buffer.track, end);
        write_async_id(e, id);
        e.end_object();
        out.append(text);
        events += 2;
        break;
      }
    }
    if (out.size() >= k_write_chunk) {
      out.add_events(events);
      events = 0;
      write_out(out);
    }
  }
  out.add_events(events);  // written with the next piece, or when the writer stops
}

void trace_recorder::impl::write_out(text_out& out) {
  std::lock_guard lock(file_mutex);
  write_locked(out.text(), out.events());
  out.clear();
}

void trace_recorder::impl::run_writer(writer_link& l) {
  writer_names known;         // this session's copy of `names`
  std::uint64_t next_id = 1;  // async span ids, unique in the file
  // Lives as long as the writer, so from session to session: a fresh
  // buffer of this size cost a few dozen page faults per trace.
  text_out out;
  std::unique_lock lock(l.queue_mutex);
  for (;;) {
    l.queue_ready.wait(lock, [&] { return l.start_pending || !l.queue.empty() || l.drain; });
    if (l.start_pending) {  // before any of the new session's buffers
      l.start_pending = false;
      const std::string head = std::move(l.session_head);
      lock.unlock();
      known = writer_names();
      next_id = 1;
      out.append(head);  // empty: the last drain wrote everything
      out.add_events(1);
      release_replaced_file();  // the previous session's old trace: freed here, beside the run
      lock.lock();
      continue;
    }
    if (l.queue.empty()) {  // drain: everything handed over is formatted
      std::string text = std::move(l.closing);
      const auto text_events = l.closing_events;
      lock.unlock();
      finish_file(out, text, text_events);
      lock.lock();
      l.drain = false;
      l.drained = true;
      l.writer_done.notify_all();
      continue;
    }
    handed_buffer item = std::move(l.queue.front());
    l.queue.pop_front();
    lock.unlock();
    l.queue_room.notify_all();
    bool current = false;
    {
      std::lock_guard file_lock(file_mutex);
      current = file_session != 0 && file_session == item.session;
    }
    if (current) {
      format(item, known, next_id, out);
    } else {
      dropped.fetch_add(item.records, std::memory_order_relaxed);
    }
    item.data.clear();
    lock.lock();
    if (l.spare.size() < k_max_queued) l.spare.push_back(std::move(item.data));
    // About to wait: write what is formatted now rather than leave it for
    // finish(), which a run waits for.
    if (l.queue.empty() && !l.drain) {
      lock.unlock();
      write_out(out);
      lock.lock();
    }
  }
}

void trace_recorder::impl::finish_file(text_out& out, std::string& text, std::uint64_t text_events) {
  // The thread names, then the closing text with the count of what was
  // lost (read now that everything else is written): one write with the
  // last events.
  text += "\n],\"displayTimeUnit\":\"ms\",\"otherData\":";
  json_writer w(text);
  w.begin_object();
  w.field("writer", "sluice");
  w.field_num("dropped_events", static_cast<std::int64_t>(dropped.load(std::memory_order_relaxed)));
  w.end_object();
  text += "}\n";
  out.append(text);
  out.add_events(text_events);
  write_out(out);
}

namespace {

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

// The variable part of a complete or async span record: category, name and
// arguments, copied, since the caller's strings do not outlive the call.
void put_span_payload(std::string& out, std::string_view category, std::string_view name,
                      std::initializer_list<trace_arg> args) {
  put_text(out, category);
  put_text(out, name);
  put_u32(out, static_cast<std::uint32_t>(args.size()));
  for (const auto& a : args) {
    out += static_cast<char>(a.is_number ? 1 : 0);
    put_text(out, a.key);
    if (a.is_number) {
      put_i64(out, a.number);
    } else {
      put_text(out, a.text);
    }
  }
}

// A record with no payload: its name (and, if `detail` is given, its
// detail) interned into the head's ids. Out of memory loses the record,
// counted.
void record_named(trace_recorder::impl& s, record_head head, std::string_view name,
                  const std::string_view* detail = nullptr) noexcept {
  try {
    record(
        s, head,
        [&](record_head& h, thread_buffer& b, std::uint64_t session) {
          h.name = name_id(s, b, session, name);
          if (detail != nullptr) h.detail = name_id(s, b, session, *detail);
        },
        [](std::string&, std::uint64_t) { return false; });
  } catch (...) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

// A stage's section that the inline extension (trace_recorder::
// stage_section) did not take: closes the thread's open section into its
// records and opens this one.
void record_section(trace_recorder::impl& s, record_head head, std::string_view stage) noexcept {
  try {
    if (s.session.load(std::memory_order_acquire) == 0) {
      s.dropped.fetch_add(1, std::memory_order_relaxed);
      return;
    }
    auto& b = this_thread_buffer(s);
    auto& o = b.open;
    busy_scope busy(b);
    const auto session = begin_record(s, b);
    if (session == 0) return;
    close_open_section(b);
    o.stage.assign(stage);  // may throw (out of memory): the section is then not opened, counted
    o.start.store(head.start, std::memory_order_relaxed);
    o.end.store(head.end, std::memory_order_relaxed);
    o.items.store(head.value, std::memory_order_relaxed);
    o.name.store(name_id(s, b, session, stage), std::memory_order_relaxed);
    o.chunks.store(0, std::memory_order_relaxed);
    o.session.store(session, std::memory_order_relaxed);
    if (b.data.size() >= k_flush_bytes) s.hand_off_locked(b);
  } catch (...) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
  }
}

}  // namespace

void set_trace_thread_name(const char* name) noexcept { t_thread_name = name; }

void trace_recorder::complete(std::string_view category, std::string_view name, clock::time_point start,
                              clock::time_point end, std::initializer_list<trace_arg> args) {
  record(*m_impl, {trace_ticks(start), trace_ticks(end), 0, 0, 0, 0, record_kind::complete}, no_names,
         [&](std::string& out, std::uint64_t) {
           put_span_payload(out, category, name, args);
           return true;
         });
}

void trace_recorder::async_span(std::string_view category, std::string_view name, clock::time_point start,
                                clock::time_point end, std::initializer_list<trace_arg> args) {
  record(*m_impl, {trace_ticks(start), trace_ticks(end), 0, 0, 0, 0, record_kind::async}, no_names,
         [&](std::string& out, std::uint64_t) {
           put_span_payload(out, category, name, args);
           return true;
         });
}

void trace_recorder::start_stage_section(std::string_view stage, std::int64_t from, std::int64_t to,
                                         std::int64_t items) noexcept {
  record_section(*m_impl, {from, to, items, 0, 0, 0, record_kind::stage_section}, stage);
}

void trace_recorder::channel_wait(std::string_view stage, std::string_view what, clock::time_point start,
                                  clock::time_point end, const void* waiter) noexcept {
  const auto who = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(waiter));
  record_named(*m_impl, {trace_ticks(start), trace_ticks(end), who, 0, 0, 0, record_kind::channel_wait}, stage, &what);
}

void trace_recorder::channel_wait(std::string_view stage, std::string_view what, trace_stamp start, trace_stamp end,
                                  const void* waiter) noexcept {
  const auto who = static_cast<std::int64_t>(reinterpret_cast<std::uintptr_t>(waiter));
  record_head head{start.value, end.value, who, 0, 0, 0, record_kind::channel_wait};
  head.tsc = g_trace_stamp_source.load(std::memory_order_relaxed) == 1;  // decided before any stamp was taken
  record_named(*m_impl, head, stage, &what);
}

int decide_trace_stamp_source() noexcept {
  int expected = g_trace_stamp_source.load(std::memory_order_relaxed);
  if (expected != 0) return expected;
  const int source = tsc_is_usable() ? 1 : 2;
  // Racing deciders decide alike; the first store stands.
  if (g_trace_stamp_source.compare_exchange_strong(expected, source, std::memory_order_relaxed)) return source;
  return expected;
}

void trace_recorder::async_item(std::string_view stage, clock::time_point start, clock::time_point end,
                                std::int64_t index) noexcept {
  record_named(*m_impl, {trace_ticks(start), trace_ticks(end), index, 0, 0, 0, record_kind::async_item}, stage);
}

}  // namespace detail

trace_session::claimed trace_session::claim_or_throw() {
  if (!detail::recorder_state().claim_slot())
    throw std::logic_error("sluice::trace_session: another trace session is active in this process");
  return {};
}

trace_session::trace_session(std::string path, trace_options options)
    : trace_session(std::move(path), options, claim_or_throw()) {}

std::unique_ptr<trace_session> trace_session::start_unless_active(std::string path, trace_options options) {
  if (!detail::recorder_state().claim_slot()) return nullptr;
  return std::unique_ptr<trace_session>(new trace_session(std::move(path), options, claimed{}));
}

trace_session::trace_session(std::string path, trace_options options, claimed)
    : m_path(std::move(path)), m_options(options) {
  auto& s = detail::recorder_state();
  m_summary.path = m_path;
  m_process = static_cast<std::int64_t>(::getpid());
  const std::string temp = m_path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    s.release_slot();
    detail::throw_errno(error, "sluice::trace_session: cannot create " + temp);
  }
  s.reset_names();
  std::lock_guard registry(s.registry_mutex);
  // Buffers of threads that exited since the last session are no longer needed.
  std::erase_if(s.buffers, [](const auto& b) {
    std::lock_guard lock(b->mutex);
    return b->dead;
  });
  const auto session = ++s.last_session;
  s.origin = detail::trace_ticks(detail::trace_recorder::clock::now());
  if (s.tsc_anchor.ns == 0 && detail::decide_trace_stamp_source() == 1) s.tsc_anchor = detail::read_clock_pair();
  s.pid = static_cast<std::int64_t>(::getpid());
  s.dropped.store(0, std::memory_order_relaxed);
  {
    std::lock_guard lock(s.file_mutex);
    s.fd = fd;
    s.temp_path = temp;
    s.write_error = 0;
    s.written_events = 0;
    s.written_bytes = 0;
    s.file_session = session;
  }
  std::string head = "{\"traceEvents\":[\n";
  json_writer w(head);
  w.begin_object();
  w.field("ph", "M");
  w.field("name", "process_name");
  w.field_num("pid", s.pid);
  w.field_num("tid", 0);
  w.key("args");
  w.begin_object();
  w.field("name", "sluice");
  w.end_object();
  w.end_object();
  try {
    s.start_writing(std::move(head));
  } catch (...) {
    std::lock_guard lock(s.file_mutex);
    ::close(fd);
    ::unlink(temp.c_str());
    s.fd = -1;
    s.file_session = 0;
    s.release_slot();
    throw;
  }
  s.session.store(session, std::memory_order_release);
  detail::g_active_trace.store(&detail::recorder(), std::memory_order_release);
}

trace_session::~trace_session() {
  try {
    finish();
  } catch (...) {
    // Documented: the destructor swallows the error; finish() removed the temporary file.
  }
}

trace_summary trace_session::finish() {
  if (m_finished) return m_summary;
  m_finished = true;
  // A copy fork() made of a parent's session: the parent finishes it, and
  // its file is the parent's.
  if (m_process != static_cast<std::int64_t>(::getpid())) return m_summary;
  auto& s = detail::recorder_state();
  detail::g_active_trace.store(nullptr, std::memory_order_release);
  // Sequentially consistent, like a record's raising of busy: a record
  // either sees the session closed or is waited for below.
  const auto session = s.session.exchange(0, std::memory_order_seq_cst);

  // Every thread's remaining records go to the writer, which then drains;
  // then one thread_name per track.
  std::string names;
  std::lock_guard registry(s.registry_mutex);
  std::uint64_t name_events = 0;
  for (auto& b : s.buffers) {
    std::lock_guard lock(b->mutex);
    // A record in progress (at most one per thread, short unless it waits
    // for room in the writer's queue, which keeps draining) ends first.
    while (b->busy.load(std::memory_order_seq_cst)) std::this_thread::yield();
    if (b->session != session) continue;
    detail::close_open_section(*b);
    s.hand_off_locked(*b);
    names += ",\n";
    json_writer w(names);
    detail::begin_event(w, "M", "\"__metadata\"", "\"thread_name\"", s.pid, b->track, 0);
    w.key("args");
    w.begin_object();
    w.field("name", b->name);
    w.end_object();
    w.end_object();
    ++name_events;
  }
  std::erase_if(s.buffers, [](const auto& b) {
    std::lock_guard lock(b->mutex);
    return b->dead;
  });
  {
    // The writer formats what is queued, then writes the names and the
    // closing text; buffers handed over from now on are dropped.
    auto& l = *s.link;  // set by this session's start
    std::unique_lock lock(l.queue_mutex);
    l.stopping = true;
    l.closing = std::move(names);
    l.closing_events = name_events;
    l.drain = true;
    l.drained = false;
    l.queue_ready.notify_all();
    l.queue_room.notify_all();
    l.writer_done.wait(lock, [&] { return l.drained; });
    l.spare.clear();
    l.spare.shrink_to_fit();
  }
  const auto dropped = s.dropped.load(std::memory_order_relaxed);
  std::lock_guard lock(s.file_mutex);
  m_summary.events = s.written_events;
  m_summary.dropped_events = dropped;  // the count the file says
  m_summary.bytes = s.written_bytes;
  int error = s.write_error;
  if (error == 0 && m_options.fsync && ::fsync(s.fd) != 0) error = errno;
  if (::close(s.fd) != 0 && error == 0) error = errno;
  s.fd = -1;
  s.file_session = 0;
  if (error == 0) {
    int replaced = -1;
    error = detail::replace_file(s.temp_path, m_path, &replaced);  // not rename(2): see replace_file.hpp
    s.hold_replaced_file_locked(replaced);
  }
  if (error == 0 && m_options.fsync) error = detail::sync_directory_of(m_path);
  const std::string temp = s.temp_path;
  s.release_slot();
  if (error != 0) {
    ::unlink(temp.c_str());
    detail::throw_errno(error, "sluice::trace_session: cannot write " + m_path);
  }
  return m_summary;
}

}  // namespace sluice
