# Install rules and a package config so that an outside project can write
#   find_package(metagrad REQUIRED)
#   target_link_libraries(app PRIVATE metagrad::metagrad)
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS metagrad EXPORT metagradTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
# The reproduction harness is linked into the program, not the library:
# its headers stay in the source tree.
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/metagrad
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  PATTERN experiments EXCLUDE)
install(TARGETS metagrad_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})

set(MG_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/metagrad)
install(EXPORT metagradTargets NAMESPACE metagrad:: DESTINATION ${MG_CMAKE_DIR})
configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/metagradConfig.cmake.in
  ${PROJECT_BINARY_DIR}/metagradConfig.cmake INSTALL_DESTINATION ${MG_CMAKE_DIR})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/metagradConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/metagradConfig.cmake
  ${PROJECT_BINARY_DIR}/metagradConfigVersion.cmake DESTINATION ${MG_CMAKE_DIR})
