// Everything in the files connector: line and block sources over io_uring
// (or the blocking pool), directory listing, gzip, atomic file sinks.
#pragma once

#include "sluice/files/atomic_file.hpp"
#include "sluice/files/line.hpp"
#include "sluice/files/lines.hpp"
#include "sluice/files/list_files.hpp"
#include "sluice/files/read_blocks.hpp"
#include "sluice/files/read_options.hpp"
#include "sluice/files/write.hpp"
