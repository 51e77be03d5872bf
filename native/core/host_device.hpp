// P2SAM_HD marks arithmetic that both the CPU core and the CUDA kernels run.
//
// Under nvcc it expands to __host__ __device__, so native/cuda can call a core function
// from a kernel; under g++ it is empty and the function is plain inline C++. Only
// headers of native/core use it, which keeps the dependency one-way: the GPU code
// depends on these core headers, never the other way round.
#pragma once

#if defined(__CUDACC__)
#define P2SAM_HD __host__ __device__
#else
#define P2SAM_HD
#endif
