// Appended to an emulation build after the kernels (see emu_shim.h): runs a kernel over a range of a launch's blocks.
// The generated export table (one NOS_EMU_EXPORT per kernel, then NOS_EMU_TABLE_END) lists the launchers by name;
// native/engine/device_host.cc looks them up in nos_emu_kernels.
typedef void (*nos_emu_launcher)(const unsigned int* grid, const unsigned int* block, void** params,
                                 long long first_block, long long last_block);

// std::index_sequence and std::remove_reference, without the C++ library.
template <unsigned long... I>
struct nos_emu_indices {};
template <unsigned long N, unsigned long... I>
struct nos_emu_make_indices : nos_emu_make_indices<N - 1, N - 1, I...> {};
template <unsigned long... I>
struct nos_emu_make_indices<0, I...> {
  typedef nos_emu_indices<I...> type;
};
template <typename T>
struct nos_emu_bare {
  typedef T type;
};
template <typename T>
struct nos_emu_bare<T&> {
  typedef T type;
};

template <typename... A, unsigned long... I>
static inline void nos_emu_call(void (*kernel)(A...), void** params, nos_emu_indices<I...>) {
  kernel(*static_cast<typename nos_emu_bare<A>::type*>(params[I])...);
}

// Blocks [first, last) of the launch in linear order (x fastest), each block's threads one after another.
template <typename... A>
static void nos_emu_run(void (*kernel)(A...), const unsigned int* grid, const unsigned int* block, void** params,
                        long long first, long long last) {
  nos_emu.grid_dim = nos_emu_dim3{grid[0], grid[1], grid[2]};
  nos_emu.block_dim = nos_emu_dim3{block[0], block[1], block[2]};
  const long long gx = grid[0], gxy = (long long)grid[0] * grid[1];
  for (long long b = first; b < last; ++b) {
    nos_emu.block = nos_emu_dim3{(unsigned int)(b % gx), (unsigned int)((b / gx) % grid[1]), (unsigned int)(b / gxy)};
    for (unsigned int tz = 0; tz < block[2]; ++tz)
      for (unsigned int ty = 0; ty < block[1]; ++ty)
        for (unsigned int tx = 0; tx < block[0]; ++tx) {
          nos_emu.thread = nos_emu_dim3{tx, ty, tz};
          nos_emu_call(kernel, params, typename nos_emu_make_indices<sizeof...(A)>::type{});
        }
  }
}

struct nos_emu_entry {
  const char* name;
  nos_emu_launcher launch;
};

#define NOS_EMU_EXPORT(name)                                                                                   \
  {#name, [](const unsigned int* g, const unsigned int* b, void** p, long long f, long long l) {              \
     nos_emu_run(name, g, b, p, f, l);                                                                         \
   }},
