# oneDNN as Debian's libdnnl-dev installs it, with its OpenMP runtime, as the imported target
# npyflow::dnnl. Debian's own dnnl-config.cmake names OpenCL as a dependency the CPU library
# does not need, so the library is found directly. Used by the build and by npyflowConfig.cmake.
find_path(NPYFLOW_DNNL_INCLUDE_DIR dnnl.hpp PATH_SUFFIXES oneapi/dnnl)
find_library(NPYFLOW_DNNL_LIBRARY dnnl)
# oneDNN's OpenMP runtime; nn sets its thread count (see nn/network.cpp).
find_library(NPYFLOW_GOMP_LIBRARY NAMES gomp libgomp.so.1)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(NpyflowDNNL REQUIRED_VARS NPYFLOW_DNNL_LIBRARY NPYFLOW_DNNL_INCLUDE_DIR NPYFLOW_GOMP_LIBRARY)
if(NpyflowDNNL_FOUND AND NOT TARGET npyflow::dnnl)
  add_library(npyflow::dnnl UNKNOWN IMPORTED)
  set_target_properties(npyflow::dnnl PROPERTIES
    IMPORTED_LOCATION ${NPYFLOW_DNNL_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${NPYFLOW_DNNL_INCLUDE_DIR}
    INTERFACE_LINK_LIBRARIES ${NPYFLOW_GOMP_LIBRARY})
endif()
