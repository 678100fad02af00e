# The Debian package: `cmake --build build/release --target package` (or
# `cpack -G DEB` in the build directory) writes nvmecuse_<version>_<arch>.deb
# with what `cmake --install` puts down, under /usr. Its Depends come from
# dpkg-shlibdeps (dpkg-dev, in scripts/install-deps) over the installed
# programs, so they name the Debian 12 library packages the build linked
# (libfuse3-3, libspdlog1.10, libfmt9, libstdc++6, ...) at the versions it
# needs. tests/install/check-package.sh builds and installs it.
set(NVMECUSE_PACKAGE_CONTACT "nvmecuse maintainers <nvmecuse@example.org>"
    CACHE STRING "The Debian package's Maintainer field (name <email>)")

set(CPACK_GENERATOR DEB)
set(CPACK_SOURCE_GENERATOR "")
set(CPACK_PACKAGE_NAME nvmecuse)
set(CPACK_PACKAGE_VENDOR nvmecuse)
set(CPACK_PACKAGE_CONTACT ${NVMECUSE_PACKAGE_CONTACT})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY
    "userspace NVMe driver serving controllers as CUSE devices")
set(CPACK_PACKAGE_DESCRIPTION
    "nvmecused owns NVMe controllers outside the kernel (local PCIe functions
through VFIO, remote controllers over NVMe/TCP, and a built-in emulated
controller) and shows each of them as CUSE character devices under
/dev/nvmecuse speaking the Linux NVMe ioctl ABI, so that unmodified nvme-cli
and smartctl work on them. nvmecuse-perf is an ioctl load generator for any
NVMe character device.")
set(CPACK_STRIP_FILES ON)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# nvme-cli and smartctl are what the devices are for; the daemon runs without.
set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "nvme-cli, smartmontools")

include(CPack)
