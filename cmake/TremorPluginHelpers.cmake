# tremor_add_plugin(<target> SOURCES <file>... [OUTPUT_DIRECTORY <dir>])
#
# Builds a Tremor connector plugin: a MODULE library named lib<target>.so
# that links Tremor::pdk (and through it Tremor::plugin, the header) and
# exports only what the sources mark TREMOR_PLUGIN_EXPORT, i.e. the entry
# point tremor_plugin_get_descriptor. The plugin is linked with -z defs on
# Linux: it must not expect the host to provide any symbol, since the host
# hands it everything as a function table.
#
# Output directory: OUTPUT_DIRECTORY if given, else ${TREMOR_PLUGIN_OUTPUT_DIR}
# if set, else CMake's default (CMAKE_LIBRARY_OUTPUT_DIRECTORY or the
# current binary directory).
#
# Shipped with the TremorPlugin CMake package (find_package(TremorPlugin)).
include_guard(GLOBAL)

function(tremor_add_plugin target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "OUTPUT_DIRECTORY" "SOURCES")
  if(NOT arg_SOURCES)
    message(FATAL_ERROR "tremor_add_plugin(${target}): SOURCES is required")
  endif()
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR
      "tremor_add_plugin(${target}): unknown arguments ${arg_UNPARSED_ARGUMENTS}")
  endif()

  add_library(${target} MODULE ${arg_SOURCES})
  target_link_libraries(${target} PRIVATE Tremor::pdk)
  set_target_properties(${target} PROPERTIES
    PREFIX "lib"
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON
  )
  if(CMAKE_SYSTEM_NAME STREQUAL "Linux")
    target_link_options(${target} PRIVATE "LINKER:-z,defs")
  endif()

  set(out "${arg_OUTPUT_DIRECTORY}")
  if(NOT out AND DEFINED TREMOR_PLUGIN_OUTPUT_DIR)
    set(out "${TREMOR_PLUGIN_OUTPUT_DIR}")
  endif()
  if(out)
    set_target_properties(${target} PROPERTIES LIBRARY_OUTPUT_DIRECTORY "${out}")
  endif()
endfunction()
