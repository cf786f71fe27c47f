# Runs `npm ci` for the web app in a build directory, only when needed:
#   cmake -DNPM=... -DSOURCE_DIR=web -DWORK_DIR=<build>/web -DSTAMP=<file> -P npm_ci.cmake
# WORK_DIR gets copies of package.json and package-lock.json and its own
# node_modules (the source tree stays clean). npm runs when node_modules is
# missing, or package-lock.json is newer than the stamp of the last good run.
# npm prefers its local cache (--prefer-offline), so a machine that has
# installed these packages once builds without the network; when npm fails
# (offline with an empty cache, a registry error), the build fails with what
# to do.

foreach(var NPM SOURCE_DIR WORK_DIR STAMP)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "npm_ci.cmake: ${var} is not set")
  endif()
endforeach()

set(lock ${SOURCE_DIR}/package-lock.json)
set(need FALSE)
if(NOT EXISTS ${WORK_DIR}/node_modules/.package-lock.json)
  set(need TRUE)
elseif(NOT EXISTS ${STAMP} OR ${lock} IS_NEWER_THAN ${STAMP}
       OR ${SOURCE_DIR}/package.json IS_NEWER_THAN ${STAMP})
  set(need TRUE)
endif()
if(NOT need)
  return()
endif()

file(MAKE_DIRECTORY ${WORK_DIR})
file(COPY ${SOURCE_DIR}/package.json ${lock} DESTINATION ${WORK_DIR})
file(REMOVE ${STAMP})
message(STATUS "web: npm ci in ${WORK_DIR}")
execute_process(
  COMMAND ${NPM} ci --prefer-offline --no-audit --no-fund --loglevel=error
  WORKING_DIRECTORY ${WORK_DIR}
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR
    "web: 'npm ci' failed (${rc}) in ${WORK_DIR}. It needs the npm registry, or "
    "npm's cache (~/.npm) holding the packages of web/package-lock.json. Fix the "
    "network or the cache and build again, or configure with -DSPIN_ENABLE_WEB=OFF "
    "to build without the web app.")
endif()
file(TOUCH ${STAMP})
