// Fibers for the CPU twin's barriers (appended after emu_shim.h): the threads of a block that synchronizes run as
// fibers on the OS thread that runs the block, and __syncthreads switches back to the block's scheduler
// (emu_launch.h).  On x86-64 the switch is a few instructions (callee-saved registers, the stack pointer, the SSE and
// x87 control words); elsewhere (or built with NOS_EMU_UCONTEXT, as a test does) it is ucontext's swapcontext, which
// also makes a system call (about 60 times slower here).
#if defined(__x86_64__) && !defined(NOS_EMU_UCONTEXT)
// Saves the caller's callee-saved state on its stack and its stack pointer in *save, then resumes the context whose
// stack pointer is `load` (saved by an earlier switch, or prepared by nos_emu_context_make).
extern "C" void nos_emu_switch(void** save, void* load) __attribute__((visibility("hidden")));
asm(R"(
  .text
  .p2align 4
  .globl nos_emu_switch
  .hidden nos_emu_switch
  .type nos_emu_switch, @function
nos_emu_switch:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size nos_emu_switch, .-nos_emu_switch
)");
struct nos_emu_fiber_context {
  void* sp;
};
// A context that starts `entry` (which must never return) on the stack [stack, stack + bytes).
static inline void nos_emu_context_make(nos_emu_fiber_context* c, char* stack, unsigned long bytes, void (*entry)()) {
  unsigned long top = ((unsigned long)(stack + bytes)) & ~15ul;
  void** frame = (void**)(top - 16);  // `ret` pops entry and leaves rsp = top - 8: a call's alignment at entry
  frame[1] = 0;                       // entry's return address: none
  frame[0] = (void*)entry;
  void** regs = frame - 7;  // the control words, r15, r14, r13, r12, rbx, rbp: what nos_emu_switch pops
  for (int k = 1; k < 7; ++k) regs[k] = 0;
  unsigned int words[2] = {0, 0};
  __asm__ volatile("stmxcsr %0\n\tfnstcw %1" : "=m"(words[0]), "=m"(words[1]));
  memcpy(regs, words, 8);
  c->sp = regs;
}
static inline void nos_emu_context_swap(nos_emu_fiber_context* save, nos_emu_fiber_context* load) { nos_emu_switch(&save->sp, load->sp); }
#else
#include <ucontext.h>
struct nos_emu_fiber_context {
  ucontext_t uc;
};
static inline void nos_emu_context_make(nos_emu_fiber_context* c, char* stack, unsigned long bytes, void (*entry)()) {
  getcontext(&c->uc);
  c->uc.uc_stack.ss_sp = stack;
  c->uc.uc_stack.ss_size = bytes;
  c->uc.uc_link = 0;
  makecontext(&c->uc, entry, 0);
}
static inline void nos_emu_context_swap(nos_emu_fiber_context* save, nos_emu_fiber_context* load) { swapcontext(&save->uc, &load->uc); }
#endif

// A block that synchronizes: its threads as fibers (emu_launch.h schedules them), `current` the one running.
struct nos_emu_fiber {
  nos_emu_fiber_context context;
  int state;  // nos_emu_fiber_ready, _waiting (at a barrier) or _done
  int line;   // the source line of the barrier it waits at: a block's threads must all wait at the same one
};
enum { nos_emu_fiber_ready = 0, nos_emu_fiber_waiting = 1, nos_emu_fiber_done = 2 };
struct nos_emu_block {
  nos_emu_fiber_context scheduler;
  nos_emu_fiber* fibers;
  unsigned int current;
};
static thread_local nos_emu_block* nos_emu_block_now;  // null while a block runs without fibers

// Suspends the calling thread until every thread of its block still running has reached a barrier.  The barrier is
// named by its line: CUDA allows __syncthreads in conditional code only where the condition is the same for the
// whole block, so threads waiting at different lines are an error here (on a GPU a hang or a wrong result).
#define __syncthreads() nos_emu_barrier(__LINE__)
static inline void nos_emu_barrier(int line) {
  nos_emu_block* block = nos_emu_block_now;
  if (block == 0) {  // thread 0 of the block finished without a barrier (emu_launch.h)
    nos_emu_fail("a thread waited at __syncthreads where thread 0 of its block did not (a barrier in divergent code)");
    return;
  }
  nos_emu_fiber* self = &block->fibers[block->current];
  self->state = nos_emu_fiber_waiting;
  self->line = line;
  nos_emu_context_swap(&self->context, &block->scheduler);
}
