// Everything in sluice's core: tasks, runtime, channels, oneshot, offload,
// and the primitives (semaphore, async_mutex, yield_now, when_any, select,
// timeout, generators).
#pragma once

#include "sluice/core/async_generator.hpp"
#include "sluice/core/async_mutex.hpp"
#include "sluice/core/blocking_pool.hpp"
#include "sluice/core/channel.hpp"
#include "sluice/core/display_text.hpp"
#include "sluice/core/generator.hpp"
#include "sluice/core/latency_histogram.hpp"
#include "sluice/core/oneshot.hpp"
#include "sluice/core/reactor.hpp"
#include "sluice/core/result.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/select.hpp"
#include "sluice/core/semaphore.hpp"
#include "sluice/core/sleep.hpp"
#include "sluice/core/status_display.hpp"
#include "sluice/core/sync_wait.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/task_scope.hpp"
#include "sluice/core/timeout.hpp"
#include "sluice/core/trace.hpp"
#include "sluice/core/wait_note.hpp"
#include "sluice/core/when_all.hpp"
#include "sluice/core/when_any.hpp"
#include "sluice/core/yield_now.hpp"
