#include <new>

#include "sluice/files/line.hpp"

namespace sluice::files {

shared_bytes shared_bytes::allocate(std::size_t capacity) {
  void* raw = ::operator new(sizeof(storage) + capacity);
  auto* s = new (raw) storage{{1}, capacity};
  return shared_bytes(s);
}

void shared_bytes::destroy(storage* s) noexcept {
  s->~storage();
  ::operator delete(static_cast<void*>(s));
}

}  // namespace sluice::files
