# Small helpers so every target gets the same warnings and include paths.

# harmonia_library(NAME SRCS a.cc b.cc DEPS x y)
function(harmonia_library name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SRCS})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${HARMONIA_COPTS})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS})
endfunction()

# harmonia_test(NAME SRCS a_test.cc DEPS lib) — a GoogleTest binary registered with CTest.
function(harmonia_test name)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_executable(${name} ${ARG_SRCS})
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
  target_compile_options(${name} PRIVATE ${HARMONIA_COPTS})
  target_compile_definitions(${name} PRIVATE
    HARMONIA_SOURCE_DIR="${PROJECT_SOURCE_DIR}"
    HARMONIA_BINARY_DIR="${PROJECT_BINARY_DIR}")
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gmock GTest::gtest_main)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60)
endfunction()
