# What `cmake --install` and the .deb hold (scripts/package.sh runs cpack in
# the native and the arm64 build dirs): kso-pack and kso-fs in bin/ (their
# install() rules are next to their targets), man pages made from --help by
# help2man when package.sh made them, the deploy files (compose, systemd
# units, nginx and registry configs, the switch script) in share/kso/deploy,
# the docs in share/doc/kso.
install(DIRECTORY ${CMAKE_SOURCE_DIR}/deploy/ DESTINATION share/kso/deploy USE_SOURCE_PERMISSIONS)
file(GLOB KSO_DOCS ${CMAKE_SOURCE_DIR}/docs/*.md)
install(FILES ${CMAKE_SOURCE_DIR}/README.md ${KSO_DOCS} DESTINATION share/doc/kso)
install(DIRECTORY ${CMAKE_BINARY_DIR}/man/ DESTINATION share/man/man1 OPTIONAL)

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME kso)
set(CPACK_PACKAGE_CONTACT "kso maintainers <kso@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Kubernetes offline artifacts as one mountable pack")
set(CPACK_PACKAGE_DESCRIPTION "kso-pack builds compressed, deduplicated, checksummed packs of the files
and container images an air-gapped Kubernetes (kubespray) install needs; kso-fs
mounts a pack read-only (FUSE) so stock nginx and registry:2 serve it.")
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "file:///usr/share/doc/kso/README.md")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
# kso_<version>_<arch>.deb; the libraries' Depends from dpkg-shlibdeps (the
# arm64 build finds its :arm64 libraries the same way), plus fuse3 for
# fusermount3 and mount.fuse3, which no library dependency brings.
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "fuse3")
if(CMAKE_SYSTEM_PROCESSOR MATCHES "^(aarch64|arm64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE arm64)
elseif(CMAKE_SYSTEM_PROCESSOR MATCHES "^(x86_64|AMD64)$")
  set(CPACK_DEBIAN_PACKAGE_ARCHITECTURE amd64)
endif()
include(CPack)
