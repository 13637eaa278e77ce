#include "sluice/github/page_parser.hpp"

#include <simdjson.h>

#include <charconv>
#include <string>

namespace sluice::github {
namespace {

namespace od = simdjson::ondemand;

// Each thread keeps one parser: its buffers grow to the largest page seen
// and are reused, so steady-state parsing allocates only the records.
od::parser& thread_parser() {
  thread_local od::parser parser;
  return parser;
}

void pad_in_place(std::string& body) {
  if (body.capacity() < body.size() + simdjson::SIMDJSON_PADDING)
    body.reserve(body.size() + simdjson::SIMDJSON_PADDING);
}

// A timestamp or null; anything else is reported as a type error for the field.
std::optional<timestamp> timestamp_field(od::value v) {
  if (v.is_null()) return std::nullopt;
  const std::string_view text = v.get_string();
  auto t = parse_timestamp(text);
  if (!t) throw simdjson::simdjson_error(simdjson::INCORRECT_TYPE);
  return t;
}

item_state state_of(std::string_view s) {
  if (s == "open") return item_state::open;
  if (s == "closed") return item_state::closed;
  return item_state::unknown;
}

std::string login_of(od::value v) {
  if (v.is_null()) return {};
  for (auto field : v.get_object()) {
    if (field.key() == "login") {
      od::value login = field.value();
      if (login.is_null()) return {};
      return std::string(std::string_view(login.get_string()));
    }
  }
  return {};
}

void read_labels(od::value v, std::vector<std::string>& out) {
  if (v.is_null()) return;
  for (od::value label : v.get_array()) {
    if (label.type() == od::json_type::string) {
      out.emplace_back(std::string_view(label.get_string()));
      continue;
    }
    for (auto field : label.get_object()) {
      if (field.key() == "name") {
        out.emplace_back(std::string_view(field.value().get_string()));
        break;
      }
    }
  }
}

// Names the field being read so an error message can say where it failed.
struct cursor {
  std::size_t item = 0;
  std::string_view field;
};

// The fields issues and pulls share (number, state, user, created_at,
// closed_at), read into `rec`; false when `key` is none of them.
template <typename Record>
bool read_shared_field(const od::raw_json_string& key, od::field& field, Record& rec, cursor& at) {
  if (key == "number") {
    at.field = "number";
    rec.number = field.value().get_int64();
  } else if (key == "state") {
    at.field = "state";
    rec.state = state_of(field.value().get_string());
  } else if (key == "user") {
    at.field = "user";
    rec.author = login_of(field.value());
  } else if (key == "created_at") {
    at.field = "created_at";
    rec.created_at = timestamp_field(field.value());
  } else if (key == "closed_at") {
    at.field = "closed_at";
    rec.closed_at = timestamp_field(field.value());
  } else {
    return false;
  }
  return true;
}

issue_record read_issue(od::object obj, cursor& at) {
  issue_record rec;
  for (od::field field : obj) {
    const od::raw_json_string key = field.key();
    if (read_shared_field(key, field, rec, at)) {
      // number, state, user, created_at or closed_at
    } else if (key == "labels") {
      at.field = "labels";
      read_labels(field.value(), rec.labels);
    } else if (key == "comments") {
      at.field = "comments";
      // get_int64 already rejects anything beyond 64 bits; a negative count
      // is not a count (and would let a sum wrap the other way).
      rec.comments = field.value().get_int64();
      if (rec.comments < 0) throw simdjson::simdjson_error(simdjson::NUMBER_OUT_OF_RANGE);
    } else if (key == "pull_request") {
      rec.is_pull_request = true;  // its contents are not needed: /pulls is the source
    }
    at.field = {};
  }
  return rec;
}

pull_record read_pull(od::object obj, cursor& at) {
  pull_record rec;
  for (od::field field : obj) {
    const od::raw_json_string key = field.key();
    if (read_shared_field(key, field, rec, at)) {
      // number, state, user, created_at or closed_at
    } else if (key == "merged_at") {
      at.field = "merged_at";
      rec.merged_at = timestamp_field(field.value());
    } else if (key == "draft") {
      at.field = "draft";
      od::value v = field.value();
      rec.draft = v.is_null() ? false : bool(v.get_bool());
    }
    at.field = {};
  }
  return rec;
}

template <typename Record, typename Read>
result<std::vector<Record>> parse_page(const char* data, std::size_t size, std::size_t capacity, Read read) {
  std::vector<Record> out;
  cursor at;
  try {
    od::document doc = thread_parser().iterate(data, size, capacity);
    od::array items = doc.get_array();
    for (od::value element : items) {
      od::object obj = element.get_object();
      out.push_back(read(obj, at));
      ++at.item;
    }
    // Anything after the closing bracket means the body is not one JSON array.
    if (!doc.current_location().error()) return error{0, "malformed JSON page: trailing content after the array"};
  } catch (const simdjson::simdjson_error& e) {
    std::string message = "malformed JSON page: ";
    message += e.what();
    message += " (item " + std::to_string(at.item);
    if (!at.field.empty()) {
      message += ", field ";
      message += at.field;
    }
    message += ")";
    return error{0, std::move(message)};
  }
  return out;
}

template <typename Record, typename Read>
result<std::vector<Record>> parse_owned(std::string& body, Read read) {
  pad_in_place(body);
  return parse_page<Record>(body.data(), body.size(), body.capacity(), read);
}

template <typename Record, typename Read>
result<std::vector<Record>> parse_copy(std::string_view body, Read read) {
  simdjson::padded_string padded(body);
  return parse_page<Record>(padded.data(), padded.size(), padded.size() + simdjson::SIMDJSON_PADDING, read);
}

// Fixed-width decimal field: returns -1 when not all digits.
int digits(std::string_view s, std::size_t pos, std::size_t n) {
  if (pos + n > s.size()) return -1;
  int v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return -1;
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

result<std::vector<issue_record>> parse_issue_page(std::string& body) {
  return parse_owned<issue_record>(body, read_issue);
}
result<std::vector<issue_record>> parse_issue_page(std::string_view body) {
  return parse_copy<issue_record>(body, read_issue);
}
result<std::vector<pull_record>> parse_pull_page(std::string& body) {
  return parse_owned<pull_record>(body, read_pull);
}
result<std::vector<pull_record>> parse_pull_page(std::string_view body) {
  return parse_copy<pull_record>(body, read_pull);
}

std::optional<std::string> error_message(std::string_view body) {
  try {
    simdjson::padded_string padded(body);
    od::document doc = thread_parser().iterate(padded);
    for (od::field field : doc.get_object()) {
      if (field.key() == "message") return std::string(std::string_view(field.value().get_string()));
    }
  } catch (const simdjson::simdjson_error&) {
  }
  return std::nullopt;
}

std::optional<timestamp> parse_timestamp(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)
  const int year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  const int hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (year < 0 || month < 1 || day < 1 || hour < 0 || minute < 0 || second < 0) return std::nullopt;
  if (s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' || s[16] != ':')
    return std::nullopt;
  if (hour > 23 || minute > 59 || second > 60) return std::nullopt;
  const std::chrono::year_month_day ymd{std::chrono::year{year}, std::chrono::month{static_cast<unsigned>(month)},
                                        std::chrono::day{static_cast<unsigned>(day)}};
  if (!ymd.ok()) return std::nullopt;
  std::size_t pos = 19;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') ++pos;
  }
  std::chrono::seconds offset{0};
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    const int oh = digits(s, pos + 1, 2), om = digits(s, pos + 4, 2);
    // Real UTC offsets lie within ±18:00 (ISO 8601 / java.time's bound); a
    // larger one is malformed input, not a time to compute with.
    if (oh < 0 || om < 0 || s[pos + 3] != ':' || oh > 18 || om > 59 || (oh == 18 && om > 0)) return std::nullopt;
    offset = std::chrono::hours{oh} + std::chrono::minutes{om};
    if (s[pos] == '-') offset = -offset;
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size()) return std::nullopt;
  const auto days = std::chrono::sys_days{ymd};
  return timestamp{days} + std::chrono::hours{hour} + std::chrono::minutes{minute} + std::chrono::seconds{second} -
         offset;
}

}  // namespace sluice::github
