# Writes OUT, the header that names the commit the library is built from, as
#   #define EELU_GIT_COMMIT "<12 hex digits>[-dirty]"
# ("-dirty": tracked files differ from that commit; "unknown" outside a git checkout).
# Run at every build (the eelu_git_commit target) and at configure time; the file is
# rewritten only when its text changes, so only the code that includes it is rebuilt, and
# only when the commit changes.
#   cmake -DSOURCE_DIR=... -DOUT=... -P GitCommit.cmake
execute_process(COMMAND git describe --always --dirty --abbrev=12 --match=no-tag-matches-this
                WORKING_DIRECTORY ${SOURCE_DIR}
                OUTPUT_VARIABLE commit OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT commit)
  set(commit "unknown")
endif()
set(text "#pragma once\n#define EELU_GIT_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
