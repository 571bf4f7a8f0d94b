# Runs at install time (cmake --install --component runtime; see
# TremorInstall.cmake, which sets the TREMOR_* variables used here).
# file(INSTALL) honours DESTDIR and records every file in the install
# manifest, which scripts/install.sh turns into the uninstall list.

set(dir_perms DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(tremorctl "${TREMOR_BUILD_BIN_DIR}/tremorctl")
if(NOT EXISTS "${tremorctl}")
  message(FATAL_ERROR "${tremorctl} is missing: build first (make build, or ./scripts/build.sh), then install again")
endif()
file(INSTALL "${tremorctl}" DESTINATION "${CMAKE_INSTALL_PREFIX}/bin"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE
  ${dir_perms})

# Every bundled plugin the build wrote, whatever its language. The
# temporary files of a build in progress (*.so.tmp*) do not match.
file(GLOB plugins "${TREMOR_BUILD_PLUGIN_DIR}/libtremor_*.so")
if(NOT plugins)
  message(FATAL_ERROR "no plugins in ${TREMOR_BUILD_PLUGIN_DIR}: build first (make build, or ./scripts/build.sh), then install again")
endif()
file(INSTALL ${plugins} DESTINATION "${CMAKE_INSTALL_PREFIX}/${TREMOR_INSTALL_PLUGINDIR}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  ${dir_perms})

# The unit names tremorctl by its final path (the prefix, not DESTDIR).
set(TREMOR_BINDIR "${CMAKE_INSTALL_PREFIX}/bin")
set(TREMOR_PLUGINDIR "${CMAKE_INSTALL_PREFIX}/${TREMOR_INSTALL_PLUGINDIR}")
set(TREMOR_DOCDIR "${CMAKE_INSTALL_PREFIX}/${TREMOR_INSTALL_DOCDIR}")
configure_file("${TREMOR_UNIT_TEMPLATE}" "${TREMOR_UNIT_WORK}" @ONLY)
file(INSTALL "${TREMOR_UNIT_WORK}" DESTINATION "${CMAKE_INSTALL_PREFIX}/${TREMOR_INSTALL_UNITDIR}"
  FILE_PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
  ${dir_perms})
