// Everything in sluice's core: tasks, runtime, channels, oneshot, offload.
#pragma once

#include "sluice/core/blocking_pool.hpp"
#include "sluice/core/channel.hpp"
#include "sluice/core/oneshot.hpp"
#include "sluice/core/reactor.hpp"
#include "sluice/core/result.hpp"
#include "sluice/core/runtime.hpp"
#include "sluice/core/sleep.hpp"
#include "sluice/core/sync_wait.hpp"
#include "sluice/core/task.hpp"
#include "sluice/core/task_scope.hpp"
#include "sluice/core/when_all.hpp"
