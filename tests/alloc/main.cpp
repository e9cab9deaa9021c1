// The Catch2 entry point of the allocation-failure tests (their own executable: failing_new.cpp
// replaces the global operator new for the whole program).
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
