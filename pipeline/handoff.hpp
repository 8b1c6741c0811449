#pragma once
// oneTBB's scheduler lives in libtbb, which is not built with ThreadSanitizer, so TSan cannot
// see that a batch passed from one flow-graph node to the next is synchronized by it. Each
// node states the hand-off instead: release when it lets a batch go, acquire when it takes
// one. Outside TSan builds these are empty.

#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define NPYFLOW_TSAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define NPYFLOW_TSAN 1
#endif

#ifdef NPYFLOW_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace npyflow {

inline void handoff_release([[maybe_unused]] const void* item) {
#ifdef NPYFLOW_TSAN
    __tsan_release(const_cast<void*>(item));
#endif
}

inline void handoff_acquire([[maybe_unused]] const void* item) {
#ifdef NPYFLOW_TSAN
    __tsan_acquire(const_cast<void*>(item));
#endif
}

}  // namespace npyflow
