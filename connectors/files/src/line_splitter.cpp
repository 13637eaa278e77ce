#include "sluice/files/detail/line_splitter.hpp"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace sluice::files::detail {

void line_splitter::check_carry() const {
  if (m_carry.size() > m_max_line)
    throw std::length_error("sluice::files: " + m_name + ": line " + std::to_string(m_lines + 1) + " is longer than " +
                            std::to_string(m_max_line) + " bytes (lines_options::max_line_bytes)");
}

void line_splitter::emit_carry(std::vector<line>& out) {
  std::string_view text = trimmed(m_carry);
  shared_bytes own = shared_bytes::allocate(text.size());
  if (!text.empty()) std::memcpy(own.data(), text.data(), text.size());
  out.emplace_back(std::string_view(own.data(), text.size()), std::move(own));
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
  // Views into `owner`, whose handles are counted in one step afterwards
  // (`owner` holds a reference meanwhile, and nothing releases them before).
  const std::size_t first = out.size();
  // Room for this piece's lines at the average length so far: growing the
  // vector line by line would move every line several times per block.
  const std::uint64_t average = m_lines ? std::max<std::uint64_t>(1, m_bytes / m_lines) : 64;
  const std::size_t expect = static_cast<std::size_t>(static_cast<std::uint64_t>(end - p) / average);
  if (out.capacity() - out.size() < expect) out.reserve(out.size() + expect + expect / 8 + 16);
  m_bytes += static_cast<std::uint64_t>(end - p);
  try {
    while (p < end) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      if (nl == nullptr) break;
      // Grow first: once the uncounted handle exists nothing may throw.
      if (out.size() == out.capacity()) out.reserve(out.capacity() * 2 + 256);
      out.emplace_back(trimmed(std::string_view(p, static_cast<std::size_t>(nl - p))), owner.uncounted());
      p = nl + 1;
    }
  } catch (...) {
    owner.add_refs(out.size() - first);  // the handles made so far must own their reference
    throw;
  }
  const std::size_t made = out.size() - first;
  m_lines += made;
  owner.add_refs(made);
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
  const char* p = run.m_text.data();
  const char* const end = p + run.m_text.size();
  const shared_bytes& owner = run.m_owner;
  const std::size_t first = out.size();
  try {
    while (p < end) {
      const auto* nl = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
      const char* stop = nl ? nl : end;  // a run's last line has no newline only at the end of the input
      std::string_view text(p, static_cast<std::size_t>(stop - p));
      if (strip_cr && !text.empty() && text.back() == '\r') text.remove_suffix(1);
      // Grow first: once the uncounted handle exists nothing may throw.
      if (out.size() == out.capacity()) out.reserve(out.capacity() * 2 + 256);
      out.emplace_back(text, owner.uncounted());
      if (nl == nullptr) break;
      p = nl + 1;
    }
  } catch (...) {
    owner.add_refs(out.size() - first);  // the handles made so far must own their reference
    throw;
  }
  owner.add_refs(out.size() - first);
}

void whole_lines_cutter::check_carry() const {
  if (m_carry.size() > m_max_line)
    throw std::length_error("sluice::files: " + m_name + ": the line at byte " + std::to_string(m_carry_from) +
                            " is longer than " + std::to_string(m_max_line) + " bytes (lines_options::max_line_bytes)");
}

void whole_lines_cutter::emit_carry(std::vector<line>& out) {
  shared_bytes own = shared_bytes::allocate(m_carry.size());
  std::memcpy(own.data(), m_carry.data(), m_carry.size());
  out.emplace_back(std::string_view(own.data(), m_carry.size()), std::move(own));
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
