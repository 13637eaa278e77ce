// sluice::redis serializers: how an item becomes bytes in a stream entry.
//
//   redis::string_serializer{}                      // std::string, format "string/1"
//   redis::bytes_serializer{}                       // std::vector<std::byte>, "bytes/1"
//   redis::trivial_serializer<point>{"point"}       // memcpy of a trivially copyable type,
//                                                   // format "trivial:point:<sizeof>/1"
//   redis::json_serializer<repo>{"repo", 2, to_json, from_json}
//       // to_json(const repo&, sluice::json_writer&) writes one JSON value (the
//       // project's one JSON writer); from_json(simdjson::dom::element) -> repo
//       // reads it (throw on a missing field). Format "json:repo/2".
//
// A serializer S satisfies redis::serializer<S>:
//   typename S::value_type;
//   std::string format() const;   // name and version, stored in every entry
//   void encode(const value_type&, std::string& out) const;   // appends
//   value_type decode(std::string_view bytes) const;          // throws on bad bytes
// Every entry carries the format string: a worker whose serializer has a
// different format dead-letters the entry with both formats in the reason,
// instead of decoding garbage. Bump the version when the encoding changes.
//
// Thread-safety: encode/decode are called concurrently from arena threads;
// they must not mutate shared state.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstring>
#include <functional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include <simdjson.h>

#include "sluice/core/json.hpp"

namespace sluice::redis {

template <typename S>
concept serializer = requires(const S& s, const typename S::value_type& v, std::string& out, std::string_view in) {
  typename S::value_type;
  { s.format() } -> std::convertible_to<std::string>;
  s.encode(v, out);
  { s.decode(in) } -> std::same_as<typename S::value_type>;
};

/// Thrown by a serializer's decode for bytes it cannot read; the entry is
/// dead-lettered with what() as the reason.
class decode_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct string_serializer {
  using value_type = std::string;
  [[nodiscard]] std::string format() const { return "string/1"; }
  void encode(const std::string& v, std::string& out) const { out += v; }
  [[nodiscard]] std::string decode(std::string_view in) const { return std::string(in); }
};

struct bytes_serializer {
  using value_type = std::vector<std::byte>;
  [[nodiscard]] std::string format() const { return "bytes/1"; }
  void encode(const value_type& v, std::string& out) const {
    out.append(reinterpret_cast<const char*>(v.data()), v.size());
  }
  [[nodiscard]] value_type decode(std::string_view in) const {
    value_type v(in.size());
    if (!in.empty()) std::memcpy(v.data(), in.data(), in.size());
    return v;
  }
};

/// memcpy of a trivially copyable T. Only for processes built from the same
/// code on the same architecture: the name and sizeof are in the format,
/// padding and endianness are not checked.
template <typename T>
struct trivial_serializer {
  static_assert(std::is_trivially_copyable_v<T>, "redis::trivial_serializer needs a trivially copyable type");
  using value_type = T;
  std::string name;
  explicit trivial_serializer(std::string type_name) : name(std::move(type_name)) {}
  [[nodiscard]] std::string format() const { return "trivial:" + name + ":" + std::to_string(sizeof(T)) + "/1"; }
  void encode(const T& v, std::string& out) const { out.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
  [[nodiscard]] T decode(std::string_view in) const {
    if (in.size() != sizeof(T))
      throw decode_error("expected " + std::to_string(sizeof(T)) + " bytes for " + name + ", got " +
                         std::to_string(in.size()));
    T v;
    std::memcpy(&v, in.data(), sizeof(T));
    return v;
  }
};

/// A user struct as JSON through two user functions (see the file comment).
template <typename T>
struct json_serializer {
  using value_type = T;
  using writer_fn = std::function<void(const T&, json_writer&)>;
  using reader_fn = std::function<T(simdjson::dom::element)>;

  std::string name;
  unsigned version;
  writer_fn to_json;
  reader_fn from_json;

  json_serializer(std::string type_name, unsigned format_version, writer_fn write, reader_fn read)
      : name(std::move(type_name)), version(format_version), to_json(std::move(write)), from_json(std::move(read)) {}

  [[nodiscard]] std::string format() const { return "json:" + name + "/" + std::to_string(version); }
  void encode(const T& v, std::string& out) const {
    json_writer w(out);
    to_json(v, w);
  }
  [[nodiscard]] T decode(std::string_view in) const {
    thread_local simdjson::dom::parser parser;
    simdjson::dom::element root;
    auto err = parser.parse(in.data(), in.size()).get(root);  // copies into padded storage
    if (err) throw decode_error(std::string("invalid JSON: ") + simdjson::error_message(err));
    try {
      return from_json(root);
    } catch (const simdjson::simdjson_error& e) {
      throw decode_error(std::string("JSON does not match ") + name + ": " + e.what());
    }
  }
};

}  // namespace sluice::redis
