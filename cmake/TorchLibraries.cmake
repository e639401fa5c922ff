# eelu_torch_libraries_from_one_prefix(): after find_package(Torch), makes every library of
# TORCH_LIBRARIES that is LibTorch's own (libtorch*, libc10*, libcaffe2*, libshm) come from
# the LibTorch that was found. (The CUDA libraries live elsewhere, as they should.)
#
# TorchConfig.cmake finds c10 (and others) with find_library(... PATHS ${TORCH_INSTALL_PREFIX}/lib),
# and find_library searches the system's directories before PATHS. On a machine that also has
# Debian's LibTorch (libtorch-dev), a build against pip's torch then links Debian's
# /usr/lib/x86_64-linux-gnu/libc10.so beside pip's libtorch_cpu.so: two c10 in one process, and
# the operators fail at their first dispatch or error (docs/python.md, "Two c10").
function(eelu_torch_libraries_from_one_prefix)
  get_filename_component(prefix "${TORCH_INSTALL_PREFIX}" REALPATH)
  set(fixed)
  foreach(lib IN LISTS TORCH_LIBRARIES)
    get_filename_component(name "${lib}" NAME)
    if(IS_ABSOLUTE "${lib}" AND name MATCHES "^lib(torch|c10|caffe2|shm)")
      get_filename_component(real "${lib}" REALPATH)
      string(FIND "${real}" "${prefix}/" at)
      if(NOT at EQUAL 0)
        if(NOT EXISTS "${prefix}/lib/${name}")
          message(FATAL_ERROR "eelu: TorchConfig.cmake of ${prefix} named ${lib}, which is not "
                              "part of that torch, and ${prefix}/lib/${name} does not exist")
        endif()
        message(STATUS "eelu: ${lib} is another LibTorch's; using ${prefix}/lib/${name}")
        set(lib "${prefix}/lib/${name}")
      endif()
    endif()
    list(APPEND fixed "${lib}")
  endforeach()
  set(TORCH_LIBRARIES "${fixed}" PARENT_SCOPE)
endfunction()

# eelu_torch_runtime_dirs(): PyPI's torch keeps CUDA's libraries (NCCL, cuDNN, cuBLAS, the CUDA
# runtime) in site-packages/nvidia/*/lib, which `import torch` loads before LibTorch; a program
# that links LibTorch directly must find them itself. They go first on the programs' run path
# and on the linker's -rpath-link, ahead of a system CUDA (whose older NCCL lacks symbols that
# pip's libtorch_cuda.so needs). Nothing to do for a LibTorch without them (Debian's).
function(eelu_torch_runtime_dirs)
  get_filename_component(site "${TORCH_INSTALL_PREFIX}/.." ABSOLUTE)
  file(GLOB dirs LIST_DIRECTORIES true "${site}/nvidia/*/lib")
  if(NOT dirs)
    return()
  endif()
  list(SORT dirs)
  message(STATUS "eelu: run path for pip's CUDA libraries: ${dirs}")
  set(CMAKE_BUILD_RPATH ${dirs} ${CMAKE_BUILD_RPATH} PARENT_SCOPE)
  foreach(dir IN LISTS dirs)
    add_link_options("LINKER:-rpath-link,${dir}")
  endforeach()
endfunction()
