/*
 * Single-steps its own code over two system calls (INT 0x80), as a debugger stepping over
 * a system call does. The single-step trap must not be taken inside the kernel's INT 0x80
 * handler (Linux would print "WARNING ... exc_debug"): one SIGTRAP per user instruction run
 * with TF set, except the INTs themselves, whose gate clears TF. Runs in the guest
 * (test/integration/guest-cpu.test.ts); prints one line and exits 0, or 1 on a mismatch.
 */
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

static volatile int traps;

static void onTrap(int sig, siginfo_t *info, void *context) {
  (void)sig;
  (void)info;
  (void)context;
  traps++;
}

int main(void) {
  struct sigaction sa = {0};
  sa.sa_sigaction = onTrap;
  sa.sa_flags = SA_SIGINFO;
  sigaction(SIGTRAP, &sa, 0);
  int first, second;
  /* TF is set by POPF: the first trap comes after the MOV that follows. Traps after: mov, mov,
   * mov, nop, pushf, and, popf (TF was set when POPF began) = 7; none after either INT. */
  __asm__ volatile(
      "pushfl\n\t"
      "orl $0x100, (%%esp)\n\t"
      "popfl\n\t"
      "movl $20, %%eax\n\t" /* __NR_getpid */
      "int $0x80\n\t"
      "movl %%eax, %%ebx\n\t"
      "movl $20, %%eax\n\t"
      "int $0x80\n\t"
      "nop\n\t"
      "pushfl\n\t"
      "andl $~0x100, (%%esp)\n\t"
      "popfl\n\t"
      : "=b"(first), "=a"(second)
      :
      : "memory", "cc");
  int pid = getpid();
  printf("singlestep: getpid %d %d (pid %d), %d traps\n", first, second, pid, traps);
  return first == pid && second == pid && traps == 7 ? 0 : 1;
}
