# How the build keeps muster's layers apart (see "Layers" in README.md).
#
# Each folder is one static library whose target_link_libraries name the
# layers it may use. That stops a layer from using another's symbols, and
# headers generated into the build tree (the *.pb.h of muster_proto) are
# only on the include path of targets that link their library. Headers
# installed on the system (gRPC, RocksDB, protobuf, curl, httplib) and
# our own folders are reachable from every target, so
# muster_forbid_includes() also puts, first on a target's include path, a
# header named like each one it must not use, holding an #error: the
# wrong #include then fails to compile, naming the rule.

# The system header trees and the project folders no layer reaches
# unless its rule allows it.
set(MUSTER_SYSTEM_HEADERS grpc grpcpp grpc++ rocksdb google curl httplib.h)
set(MUSTER_PROJECT_FOLDERS
  common checkapi registry codec explain store rpc dns http xds daemon
  healthchecker client
  cli ui
  examples testkit bench tests fuzz)

# muster_layer(<target> <kind> SOURCES <files>... )
# A static library with the project's include root, warnings and
# sanitizer flags.
function(muster_layer target)
  add_library(${target} STATIC ${ARGN})
  target_include_directories(${target} PUBLIC ${PROJECT_SOURCE_DIR})
  target_compile_options(${target} PRIVATE ${MUSTER_WARNINGS})
endfunction()

# muster_forbid_includes(<target> ALLOW <name>... )
# Every header under MUSTER_SYSTEM_HEADERS and MUSTER_PROJECT_FOLDERS is
# forbidden in <target>'s own sources except those under the ALLOW names
# (a folder such as `grpcpp` or `store/layout`, or a file such as
# `httplib.h`). The target's own folder is always allowed.
function(muster_forbid_includes target)
  cmake_parse_arguments(ARG "" "" "ALLOW" ${ARGN})
  file(RELATIVE_PATH own ${PROJECT_SOURCE_DIR} ${CMAKE_CURRENT_SOURCE_DIR})
  list(APPEND ARG_ALLOW ${own})
  set(poison_dir ${CMAKE_BINARY_DIR}/forbidden-includes/${target})

  set(forbidden)
  set(roots /usr/include)
  if(CMAKE_LIBRARY_ARCHITECTURE)
    list(APPEND roots /usr/include/${CMAKE_LIBRARY_ARCHITECTURE})
  endif()
  foreach(root IN LISTS roots)
    foreach(name IN LISTS MUSTER_SYSTEM_HEADERS)
      if(IS_DIRECTORY ${root}/${name})
        file(GLOB_RECURSE found RELATIVE ${root}
             ${root}/${name}/*.h ${root}/${name}/*.hpp ${root}/${name}/*.inc)
        list(APPEND forbidden ${found})
      elseif(EXISTS ${root}/${name})
        list(APPEND forbidden ${name})
      endif()
    endforeach()
  endforeach()
  foreach(name IN LISTS MUSTER_PROJECT_FOLDERS)
    file(GLOB_RECURSE found RELATIVE ${PROJECT_SOURCE_DIR}
         CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/${name}/*.h)
    list(APPEND forbidden ${found})
  endforeach()

  foreach(header IN LISTS forbidden)
    set(allowed FALSE)
    foreach(allow IN LISTS ARG_ALLOW)
      string(FIND "${header}" "${allow}/" at)
      if(header STREQUAL allow OR at EQUAL 0)
        set(allowed TRUE)
      endif()
    endforeach()
    if(NOT allowed)
      file(CONFIGURE OUTPUT ${poison_dir}/${header} CONTENT
           "#error \"${target} may not include ${header}: see the layer rules in ${own}/CMakeLists.txt\"\n")
    endif()
  endforeach()
  target_include_directories(${target} BEFORE PRIVATE ${poison_dir})
endfunction()
