# The host as a system tool: what `make install` (scripts/install.sh)
# installs besides the SDK, as CMake component "runtime". It is
# EXCLUDE_FROM_ALL, so a plain `cmake --install` (scripts/build-c.sh into
# build/install, the installed-package test) installs only the SDK;
# `cmake --install build/cmake --component runtime --prefix P` adds:
#
#   bin/tremorctl                       built by scripts/build-go.sh
#   libexec/tremor/tremor-runner        found there by tremorctl
#   lib/tremor/plugins/*.so             every bundled plugin (C, Rust, Go)
#   share/tremor/flows/example.toml     the built-in example flow
#   share/doc/tremor/                   README and the plugin guides
#   lib/systemd/system/tremor.service   for the coming `tremorctl serve`
#
# tremorctl looks for plugins in <bin>/../lib/tremor/plugins and for the
# runner in <bin>/../libexec/tremor, so these two are fixed, not
# GNUInstallDirs choices: the layout is what makes an install relocatable.
include_guard(GLOBAL)

set(TREMOR_INSTALL_PLUGINDIR "lib/tremor/plugins")
set(TREMOR_INSTALL_RUNNERDIR "libexec/tremor")

install(TARGETS tremor-runner
  RUNTIME DESTINATION "${TREMOR_INSTALL_RUNNERDIR}"
  COMPONENT runtime EXCLUDE_FROM_ALL)

install(FILES "${CMAKE_SOURCE_DIR}/host/cmd/tremorctl/example.toml"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/tremor/flows"
  COMPONENT runtime EXCLUDE_FROM_ALL)

install(FILES
  "${CMAKE_SOURCE_DIR}/README.md"
  "${CMAKE_SOURCE_DIR}/docs/guide-c.md"
  "${CMAKE_SOURCE_DIR}/docs/guide-rust.md"
  "${CMAKE_SOURCE_DIR}/docs/guide-go.md"
  "${CMAKE_SOURCE_DIR}/docs/header-reference.md"
  DESTINATION "${CMAKE_INSTALL_DATADIR}/doc/tremor"
  COMPONENT runtime EXCLUDE_FROM_ALL)

# tremorctl and the Rust and Go plugins are not CMake targets: they are
# picked up from the build tree when installing, so the script fails with
# what to run when they were not built.
install(CODE "
  set(TREMOR_BUILD_BIN_DIR \"${TREMOR_BIN_OUTPUT_DIR}\")
  set(TREMOR_BUILD_PLUGIN_DIR \"${TREMOR_PLUGIN_OUTPUT_DIR}\")
  set(TREMOR_INSTALL_PLUGINDIR \"${TREMOR_INSTALL_PLUGINDIR}\")
  set(TREMOR_INSTALL_UNITDIR \"lib/systemd/system\")
  set(TREMOR_INSTALL_DOCDIR \"${CMAKE_INSTALL_DATADIR}/doc/tremor\")
  set(TREMOR_UNIT_TEMPLATE \"${CMAKE_SOURCE_DIR}/packaging/systemd/tremor.service.in\")
  set(TREMOR_UNIT_WORK \"${CMAKE_CURRENT_BINARY_DIR}/tremor.service\")
  " COMPONENT runtime EXCLUDE_FROM_ALL)
install(SCRIPT "${CMAKE_CURRENT_LIST_DIR}/TremorInstallRuntime.cmake"
  COMPONENT runtime EXCLUDE_FROM_ALL)
