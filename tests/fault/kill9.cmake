# kill -9 cycles under concurrent writers (the real musterd).
# muster_fault_ack_log: the acknowledged-write model, for any fault test.
add_library(muster_fault_ack_log STATIC ${CMAKE_CURRENT_LIST_DIR}/ack_log.cc)
target_include_directories(muster_fault_ack_log PUBLIC ${PROJECT_SOURCE_DIR})
target_compile_options(muster_fault_ack_log PRIVATE ${MUSTER_WARNINGS})
target_link_libraries(muster_fault_ack_log PUBLIC
  muster_proto absl::synchronization)

add_executable(fault_kill9_tests ${CMAKE_CURRENT_LIST_DIR}/kill9_test.cc)
target_compile_options(fault_kill9_tests PRIVATE ${MUSTER_WARNINGS})
target_compile_definitions(fault_kill9_tests PRIVATE
  MUSTERD_PATH="$<TARGET_FILE:musterd>")
add_dependencies(fault_kill9_tests musterd)
target_link_libraries(fault_kill9_tests PRIVATE
  muster_fault_ack_log muster_testkit muster_test_support muster_proto
  Catch2::Catch2WithMain)
catch_discover_tests(fault_kill9_tests EXTRA_ARGS --warn NoTests
  PROPERTIES TIMEOUT 240)
