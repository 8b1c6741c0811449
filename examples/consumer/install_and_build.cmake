# cmake -P: installs the build into PREFIX, configures and builds the consumer project against
# it (nothing of the build tree on its paths), and runs it with ARGS ("spec|weights").
file(REMOVE_RECURSE ${PREFIX})
execute_process(COMMAND ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${PREFIX}/usr COMMAND_ERROR_IS_FATAL ANY
                OUTPUT_QUIET)
set(build ${PREFIX}/consumer-build)
execute_process(COMMAND ${CMAKE_COMMAND} -S ${CONSUMER} -B ${build} -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX}
                        -DCMAKE_BUILD_TYPE=Release -DCMAKE_PREFIX_PATH=${PREFIX}/usr COMMAND_ERROR_IS_FATAL ANY)
execute_process(COMMAND ${CMAKE_COMMAND} --build ${build} COMMAND_ERROR_IS_FATAL ANY)
string(REPLACE "|" ";" args "${ARGS}")
execute_process(COMMAND ${build}/consumer ${args} COMMAND_ERROR_IS_FATAL ANY)
