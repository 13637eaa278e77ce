#include "sluice/files/detail/line_splitter.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace sluice::files::detail {

namespace {

std::string_view trim_cr(std::string_view s, bool strip_cr) noexcept {
  if (strip_cr && !s.empty() && s.back() == '\r') s.remove_suffix(1);
  return s;
}

// Appends `text`, copied into a block of its own (a line that spanned
// pieces), to `out`.
void append_copy(std::string_view text, std::vector<line>& out) {
  shared_bytes own = shared_bytes::allocate(text.size());
  if (!text.empty()) std::memcpy(own.data(), text.data(), text.size());
  out.emplace_back(std::string_view(own.data(), text.size()), std::move(own));
}

}  // namespace

// Appends every line of [p, end) that ends in "\n" to `out`, as views into
// `owner`, and returns where the unterminated rest starts. The handles are
// counted in one step afterwards (`owner` holds a reference meanwhile, and
// nothing releases them before).
const char* line_splitter::append_terminated_lines(const shared_bytes& owner, const char* p, const char* const end,
                                                   bool strip_cr, std::vector<line>& out) {
  const std::size_t first = out.size();
  try {
    while (p < end) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (nl == nullptr) break;
      // Grow first: once the uncounted handle exists nothing may throw.
      if (out.size() == out.capacity()) out.reserve(out.capacity() * 2 + 256);
      out.emplace_back(trim_cr(std::string_view(p, static_cast<std::size_t>(nl - p)), strip_cr), owner.uncounted());
      p = nl + 1;
    }
  } catch (...) {
    owner.add_refs(out.size() - first);  // the handles made so far must own their reference
    throw;
  }
  owner.add_refs(out.size() - first);
  return p;
}

void line_splitter::check_carry() const {
  if (m_carry.size() > m_max_line)
    throw std::length_error("sluice::files: " + m_name + ": line " + std::to_string(m_lines + 1) + " is longer than " +
                            std::to_string(m_max_line) + " bytes (lines_options::max_line_bytes)");
}

void line_splitter::emit_carry(std::vector<line>& out) {
  append_copy(trim_cr(m_carry, m_strip_cr), out);
  m_carry.clear();
  m_has_carry = false;
  ++m_lines;
}

void line_splitter::feed(const shared_bytes& owner, std::string_view bytes, std::vector<line>& out) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  if (m_has_carry) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (nl == nullptr) {
      m_carry.append(p, end);
      check_carry();
      return;
    }
    m_carry.append(p, nl);
    check_carry();
    emit_carry(out);
    p = nl + 1;
  }
  const std::size_t first = out.size();
  // Room for this piece's lines at the average length so far: growing the
  // vector line by line would move every line several times per block.
  const std::uint64_t average = m_lines ? std::max<std::uint64_t>(1, m_bytes / m_lines) : 64;
  const std::size_t expect = static_cast<std::size_t>(static_cast<std::uint64_t>(end - p) / average);
  if (out.capacity() - out.size() < expect) out.reserve(out.size() + expect + expect / 8 + 16);
  m_bytes += static_cast<std::uint64_t>(end - p);
  p = append_terminated_lines(owner, p, end, m_strip_cr, out);
  m_lines += out.size() - first;
  if (p < end) {
    m_carry.assign(p, end);
    m_has_carry = true;
    check_carry();
  }
}

void line_splitter::finish(std::vector<line>& out) {
  if (m_has_carry) emit_carry(out);
}

void line_splitter::split_run(const line& run, bool strip_cr, std::vector<line>& out) {
  const char* const end = run.m_text.data() + run.m_text.size();
  const char* p = append_terminated_lines(run.m_owner, run.m_text.data(), end, strip_cr, out);
  // A run's last line has no newline only at the end of the input.
  if (p < end) out.emplace_back(trim_cr(std::string_view(p, static_cast<std::size_t>(end - p)), strip_cr), run.m_owner);
}

void whole_lines_cutter::check_carry() const {
  if (m_carry.size() > m_max_line)
    throw std::length_error("sluice::files: " + m_name + ": the line at byte " + std::to_string(m_carry_from) +
                            " is longer than " + std::to_string(m_max_line) + " bytes (lines_options::max_line_bytes)");
}

void whole_lines_cutter::emit_carry(std::vector<line>& out) {
  append_copy(m_carry, out);
  m_carry.clear();
}

void whole_lines_cutter::feed(const shared_bytes& owner, std::string_view bytes, std::vector<line>& out) {
  const char* p = bytes.data();
  const char* const end = p + bytes.size();
  m_offset += bytes.size();
  if (!m_carry.empty()) {
    const auto* nl = static_cast<const char*>(std::memchr(p, '\n', bytes.size()));
    if (nl == nullptr) {
      m_carry.append(p, end);
      check_carry();
      return;
    }
    m_carry.append(p, nl);
    check_carry();
    m_carry.push_back('\n');
    emit_carry(out);
    p = nl + 1;
  }
  if (p == end) return;
  const auto* last = static_cast<const char*>(::memrchr(p, '\n', static_cast<std::size_t>(end - p)));
  if (last != nullptr) {
    out.emplace_back(std::string_view(p, static_cast<std::size_t>(last + 1 - p)), owner);
    p = last + 1;
  }
  if (p < end) {
    m_carry.assign(p, end);
    m_carry_from = m_offset - static_cast<std::uint64_t>(end - p);
    check_carry();
  }
}

void whole_lines_cutter::finish(std::vector<line>& out) {
  if (!m_carry.empty()) emit_carry(out);
}

}  // namespace sluice::files::detail
