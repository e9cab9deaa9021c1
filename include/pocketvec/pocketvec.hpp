// pocketvec/pocketvec.hpp — the umbrella header: include this one.
#pragma once

#include "config.hpp"
#include "error.hpp"
#include "format.hpp"
#include "index.hpp"
#include "metric.hpp"
#include "version.hpp"
