# Configures and builds SOURCE_DIR as an outside project against the install
# tree in PREFIX (CMAKE_PREFIX_PATH only; nothing of the build tree), with the
# same generator as ours, then runs RUN (a program of that build) if given.
file(REMOVE_RECURSE ${WORK_DIR})
set(flags "")
if(SANITIZE)  # a sanitized library needs its runtime loaded first
  set(flags "-fsanitize=address,undefined")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR} -G ${GENERATOR}
                        -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                        -DCMAKE_CXX_FLAGS=${flags} -DCMAKE_BUILD_TYPE=Release
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "configuring ${SOURCE_DIR} against ${PREFIX} failed: ${rc}")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${WORK_DIR} RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "building ${SOURCE_DIR} failed: ${rc}")
endif()
if(RUN)
  execute_process(COMMAND ${WORK_DIR}/${RUN} WORKING_DIRECTORY ${WORK_DIR} RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR "${RUN} failed: ${rc}")
  endif()
endif()
