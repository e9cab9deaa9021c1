// pocketvec/version.hpp — the library version, the one place it is written.
// CMake reads these three lines; keep their shape.
#pragma once

#define POCKETVEC_VERSION_MAJOR 0
#define POCKETVEC_VERSION_MINOR 1
#define POCKETVEC_VERSION_PATCH 0
