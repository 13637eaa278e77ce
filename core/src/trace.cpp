#include "sluice/core/trace.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <oneapi/tbb/task_arena.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <mutex>
#include <stdexcept>
#include <system_error>
#include <utility>
#include <vector>

#include "sluice/core/json.hpp"
#include "sluice/core/runtime.hpp"

namespace sluice {
namespace detail {

std::atomic<trace_recorder*> g_active_trace{nullptr};

namespace {

using clock = trace_recorder::clock;

// A thread's events not yet written, and how to name its track.
struct thread_buffer {
  std::mutex mutex;
  std::string text;           // whole events, each starting with ",\n"
  std::uint64_t session = 0;  // the session `text` belongs to
  std::uint64_t pending = 0;  // events in `text`
  std::int64_t track = 0;     // the thread id written as "tid"
  std::string name;
  bool dead = false;  // the thread has exited
};

constexpr std::size_t k_flush_bytes = 256 * 1024;

thread_local const char* t_thread_name = nullptr;

}  // namespace

struct trace_recorder::impl {
  std::mutex registry_mutex;  // guards `buffers`
  std::vector<std::unique_ptr<thread_buffer>> buffers;
  std::atomic<std::uint64_t> session{0};  // the recording session, 0 while none
  std::atomic<std::uint64_t> next_async_id{1};
  std::atomic<std::uint64_t> dropped{0};
  std::atomic<bool> claimed{false};  // a trace_session exists
  std::uint64_t last_session = 0;    // guarded by registry_mutex
  clock::time_point origin{};        // written before `session` is published
  std::int64_t pid = 0;

  std::mutex file_mutex;  // guards everything below
  int fd = -1;
  std::uint64_t file_session = 0;
  std::string temp_path;
  int write_error = 0;
  std::uint64_t written_events = 0;
  std::uint64_t written_bytes = 0;

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

  // Writes `b`'s events (b.mutex held) if they belong to the open file.
  void flush_locked(thread_buffer& b) {
    if (b.pending == 0) return;
    {
      std::lock_guard lock(file_mutex);
      if (file_session != 0 && file_session == b.session) {
        write_locked(b.text, b.pending);
      } else {
        dropped.fetch_add(b.pending, std::memory_order_relaxed);
      }
    }
    b.text.clear();
    b.pending = 0;
  }
};

namespace {

trace_recorder::impl& recorder_state() {
  static auto* state = new trace_recorder::impl();  // never freed: see trace_recorder
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

// The calling thread's buffer, registered on first use; its owner marks it
// dead when the thread exits, after writing what it still holds.
struct thread_slot {
  thread_buffer* buffer = nullptr;
  ~thread_slot() {
    if (!buffer) return;
    auto& s = recorder_state();
    std::lock_guard lock(buffer->mutex);
    s.flush_locked(*buffer);
    buffer->dead = true;
  }
};
thread_local thread_slot t_slot;

thread_buffer& this_thread_buffer(trace_recorder::impl& s) {
  if (t_slot.buffer) return *t_slot.buffer;
  auto owned = std::make_unique<thread_buffer>();
  owned->track = static_cast<std::int64_t>(::gettid());
  auto* raw = owned.get();
  {
    std::lock_guard lock(s.registry_mutex);
    s.buffers.push_back(std::move(owned));
  }
  t_slot.buffer = raw;
  return *raw;
}

// "12.345": nanoseconds as microseconds with three decimals (Chrome's unit).
std::string_view micros(char (&buf)[32], std::int64_t ns) {
  if (ns < 0) ns = 0;
  auto [end, ec] = std::to_chars(buf, buf + 24, ns / 1000);
  const auto frac = static_cast<int>(ns % 1000);
  *end++ = '.';
  *end++ = static_cast<char>('0' + frac / 100);
  *end++ = static_cast<char>('0' + frac / 10 % 10);
  *end++ = static_cast<char>('0' + frac % 10);
  return {buf, static_cast<std::size_t>(end - buf)};
}

std::string_view hex_id(char (&buf)[32], std::uint64_t id) {
  buf[0] = '0';
  buf[1] = 'x';
  auto [end, ec] = std::to_chars(buf + 2, buf + 30, id, 16);
  return {buf, static_cast<std::size_t>(end - buf)};
}

struct event_fields {
  char phase;
  std::string_view category;
  std::string_view name;
  std::int64_t ts_ns;
  std::int64_t dur_ns = -1;  // "X" only
  std::uint64_t id = 0;      // "b"/"e" only
  std::initializer_list<trace_arg> args = {};
};

void append_number(std::string& out, std::int64_t value) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, value);
  out.append(buf, static_cast<std::size_t>(end - buf));
}

// One event as a JSON object. The fixed keys are constants written as they
// are; every string value (names, categories, string arguments: user text)
// goes through append_json_string, the project's one escaper, so the file is
// valid UTF-8 JSON whatever the names. Hand-rolled rather than json_writer
// because this runs once per event on the traced threads (see trace_bench).
void append_event(std::string& out, std::int64_t pid, std::int64_t tid, const event_fields& e) {
  char buf[32];
  out += ",\n{\"ph\":\"";
  out += e.phase;
  out += "\",\"cat\":";
  append_json_string(out, e.category);
  out += ",\"name\":";
  append_json_string(out, e.name);
  out += ",\"pid\":";
  append_number(out, pid);
  out += ",\"tid\":";
  append_number(out, tid);
  out += ",\"ts\":";
  out += micros(buf, e.ts_ns);
  if (e.dur_ns >= 0) {
    out += ",\"dur\":";
    out += micros(buf, e.dur_ns);
  }
  if (e.id != 0) {
    out += ",\"id\":\"";
    out += hex_id(buf, e.id);
    out += '"';
  }
  if (e.args.size() != 0) {
    out += ",\"args\":{";
    bool first = true;
    for (const auto& a : e.args) {
      if (!first) out += ',';
      first = false;
      append_json_string(out, a.key);
      out += ':';
      if (a.is_number) {
        append_number(out, a.number);
      } else {
        append_json_string(out, a.text);
      }
    }
    out += '}';
  }
  out += '}';
}

std::int64_t since_origin(const trace_recorder::impl& s, clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t - s.origin).count();
}

// Runs `write(text, track)` on the calling thread's buffer for the current session.
template <typename Write>
void record(trace_recorder::impl& s, Write&& write) {
  if (s.session.load(std::memory_order_acquire) == 0) {
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto& b = this_thread_buffer(s);
  std::lock_guard lock(b.mutex);
  const auto session = s.session.load(std::memory_order_acquire);
  if (session == 0) {  // finish() ran meanwhile
    s.dropped.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  if (b.session != session) {  // first event of this thread in this session
    b.text.clear();
    b.pending = 0;
    b.session = session;
    b.name = name_this_thread(b.track);
  }
  b.pending += write(b.text, b.track);
  if (b.text.size() >= k_flush_bytes) s.flush_locked(b);
}

[[noreturn]] void throw_errno(int error, const std::string& what) {
  throw std::system_error(error, std::generic_category(), what);
}

}  // namespace

void set_trace_thread_name(const char* name) noexcept { t_thread_name = name; }

void trace_recorder::complete(std::string_view category, std::string_view name, clock::time_point start,
                              clock::time_point end, std::initializer_list<trace_arg> args) {
  auto& s = *m_impl;
  record(s, [&](std::string& out, std::int64_t tid) -> std::uint64_t {
    const auto ts = since_origin(s, start);
    const auto dur = std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count();
    append_event(out, s.pid, tid, {'X', category, name, ts, std::max<std::int64_t>(0, dur), 0, args});
    return 1;
  });
}

void trace_recorder::async_span(std::string_view category, std::string_view name, clock::time_point start,
                                clock::time_point end, std::initializer_list<trace_arg> args) {
  auto& s = *m_impl;
  const auto id = s.next_async_id.fetch_add(1, std::memory_order_relaxed);
  record(s, [&](std::string& out, std::int64_t tid) -> std::uint64_t {
    const auto ts = since_origin(s, start);
    append_event(out, s.pid, tid, {'b', category, name, ts, -1, id, args});
    append_event(out, s.pid, tid, {'e', category, name, std::max(ts, since_origin(s, end)), -1, id, {}});
    return 2;
  });
}

}  // namespace detail

trace_session::claimed trace_session::claim_or_throw() {
  if (detail::recorder_state().claimed.exchange(true))
    throw std::logic_error("sluice::trace_session: another trace session is active in this process");
  return {};
}

trace_session::trace_session(std::string path) : trace_session(std::move(path), claim_or_throw()) {}

std::unique_ptr<trace_session> trace_session::start_unless_active(std::string path) {
  if (detail::recorder_state().claimed.exchange(true)) return nullptr;
  return std::unique_ptr<trace_session>(new trace_session(std::move(path), claimed{}));
}

trace_session::trace_session(std::string path, claimed) : m_path(std::move(path)) {
  auto& s = detail::recorder_state();
  m_summary.path = m_path;
  const std::string temp = m_path + ".tmp-" + std::to_string(::getpid());
  const int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    const int error = errno;
    s.claimed.store(false);
    detail::throw_errno(error, "sluice::trace_session: cannot create " + temp);
  }
  std::lock_guard registry(s.registry_mutex);
  // Buffers of threads that exited since the last session are no longer needed.
  std::erase_if(s.buffers, [](const auto& b) {
    std::lock_guard lock(b->mutex);
    return b->dead;
  });
  const auto session = ++s.last_session;
  s.origin = detail::trace_recorder::clock::now();
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
    s.write_locked(head, 1);
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
  auto& s = detail::recorder_state();
  detail::g_active_trace.store(nullptr, std::memory_order_release);
  const auto session = s.session.exchange(0, std::memory_order_acq_rel);

  // Every thread's remaining events, then one thread_name per track.
  std::string names;
  {
    std::lock_guard registry(s.registry_mutex);
    std::uint64_t name_events = 0;
    for (auto& b : s.buffers) {
      std::lock_guard lock(b->mutex);
      if (b->session != session) continue;
      s.flush_locked(*b);
      detail::append_event(names, s.pid, b->track,
                           {'M', "__metadata", "thread_name", 0, -1, 0, {trace_arg::str("name", b->name)}});
      ++name_events;
    }
    std::erase_if(s.buffers, [](const auto& b) {
      std::lock_guard lock(b->mutex);
      return b->dead;
    });
    std::lock_guard lock(s.file_mutex);
    s.write_locked(names, name_events);
    std::string tail = "\n],\"displayTimeUnit\":\"ms\",\"otherData\":";
    json_writer w(tail);
    w.begin_object();
    w.field("writer", "sluice");
    w.field_num("dropped_events", static_cast<std::int64_t>(s.dropped.load(std::memory_order_relaxed)));
    w.end_object();
    tail += "}\n";
    s.write_locked(tail, 0);
    m_summary.events = s.written_events;
    m_summary.dropped_events = s.dropped.load(std::memory_order_relaxed);
    m_summary.bytes = s.written_bytes;
    int error = s.write_error;
    if (error == 0 && ::fsync(s.fd) != 0) error = errno;
    if (::close(s.fd) != 0 && error == 0) error = errno;
    s.fd = -1;
    s.file_session = 0;
    if (error == 0 && ::rename(s.temp_path.c_str(), m_path.c_str()) != 0) error = errno;
    const std::string temp = s.temp_path;
    s.claimed.store(false);
    if (error != 0) {
      ::unlink(temp.c_str());
      detail::throw_errno(error, "sluice::trace_session: cannot write " + m_path);
    }
  }
  return m_summary;
}

}  // namespace sluice
