# Every third-party dependency is found here, once, and exposed as an imported
# target. All of them are Debian 12 packages (see tools/install-deps).
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

include(FindCAF) # Debian's CAF 0.17.6 ships no CMake config: CAF::core

pkg_check_modules(LIBMNL REQUIRED IMPORTED_TARGET libmnl)
pkg_check_modules(LIBNFTNL REQUIRED IMPORTED_TARGET libnftnl)
pkg_check_modules(LIBPCAP REQUIRED IMPORTED_TARGET libpcap)
pkg_check_modules(LIBMOSQUITTO REQUIRED IMPORTED_TARGET libmosquitto)

# Boost.JSON first appeared in 1.75; Debian 12's default Boost is 1.74, so the
# versioned 1.81 packages are used (libboost1.81-dev, libboost-json1.81-dev).
find_package(Boost 1.81 REQUIRED COMPONENTS json CONFIG)

# moodycamel::ConcurrentQueue is header-only (libconcurrentqueue-dev).
find_path(CONCURRENTQUEUE_INCLUDE_DIR concurrentqueue/concurrentqueue.h REQUIRED)
add_library(moodycamel::concurrentqueue INTERFACE IMPORTED)
target_include_directories(moodycamel::concurrentqueue SYSTEM INTERFACE
  ${CONCURRENTQUEUE_INCLUDE_DIR})

# The HTTP server: Boost.Beast/Asio are header-only (libboost1.81-dev); HTTPS
# needs OpenSSL (libssl-dev), basic-auth password hashes libxcrypt's crypt_rn
# (libcrypt-dev).
find_package(OpenSSL REQUIRED)
pkg_check_modules(LIBCRYPT REQUIRED IMPORTED_TARGET libxcrypt)
