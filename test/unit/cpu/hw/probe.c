/* Runs integer code on the real CPU to record fixtures (dev tool; gcc -m32 -O1 -o probe probe.c).
   stdin, one case per line:  CODEHEX EAX ECX EDX EBX ESP EBP ESI EDI EFLAGS MEMHEX OUTLEN
   stdout, one line per case: EAX ECX EDX EBX ESP EBP ESI EDI EFLAGS VECTOR EIPOFF ERR ADDR MEMHEX
   All numbers are hex. Data memory is MEM_BASE..MEM_BASE+MEM_SIZE (MEMHEX fills it from
   the start, "-" for zeros; OUTLEN bytes are dumped back); code runs at CODE_BASE.
   VECTOR is the exception vector (ff: none) and EIPOFF the faulting EIP minus the code's start;
   registers are then the state at the fault, ERR the error code and ADDR the
   faulting address of a page fault (CR2). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>

#define MEM_BASE 0x1000u
#define MEM_SIZE 0x20000u
#define CODE_BASE 0x40000u

static uint32_t regsIn[9], regsOut[9], savedEsp;
static sigjmp_buf jb;
static volatile uint32_t faultVector, faultEip, faultErr, faultAddr;

static void onSignal(int sig, siginfo_t *si, void *ucv) {
  (void)sig;
  ucontext_t *uc = ucv;
  greg_t *g = uc->uc_mcontext.gregs;
  faultVector = g[REG_TRAPNO];
  faultEip = g[REG_EIP];
  faultErr = g[REG_ERR];
  faultAddr = (uint32_t)si->si_addr;
  regsOut[0] = g[REG_EAX]; regsOut[1] = g[REG_ECX]; regsOut[2] = g[REG_EDX]; regsOut[3] = g[REG_EBX];
  regsOut[4] = g[REG_ESP]; regsOut[5] = g[REG_EBP]; regsOut[6] = g[REG_ESI]; regsOut[7] = g[REG_EDI];
  regsOut[8] = g[REG_EFL];
  siglongjmp(jb, 1);
}

static int nibble(char c) { return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10; }

static int unhex(const char *s, unsigned char *out, int max) {
  int n = 0;
  while (s[0] && s[1] && s[0] != ' ' && n < max) { out[n++] = nibble(s[0]) << 4 | nibble(s[1]); s += 2; }
  return n;
}

static void put32(unsigned char **p, uint32_t v) { memcpy(*p, &v, 4); *p += 4; }

int main(void) {
  unsigned char *mem = mmap((void *)MEM_BASE, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  unsigned char *page = mmap((void *)CODE_BASE, 0x10000, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (mem == MAP_FAILED || page == MAP_FAILED) { perror("mmap"); return 1; }
  static unsigned char altStack[65536];
  stack_t ss = { .ss_sp = altStack, .ss_size = sizeof altStack, .ss_flags = 0 };
  sigaltstack(&ss, 0);
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = onSignal; sa.sa_flags = SA_SIGINFO | SA_NODEFER | SA_ONSTACK;
  sigaction(SIGFPE, &sa, 0); sigaction(SIGILL, &sa, 0); sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0); sigaction(SIGTRAP, &sa, 0);
  static char line[1 << 20], codeHex[8192], memHex[(1 << 20) - 16384];
  while (fgets(line, sizeof line, stdin)) {
    unsigned outLen;
    if (sscanf(line, "%8191s %x %x %x %x %x %x %x %x %x %s %x", codeHex,
               &regsIn[0], &regsIn[1], &regsIn[2], &regsIn[3], &regsIn[4], &regsIn[5], &regsIn[6], &regsIn[7], &regsIn[8],
               memHex, &outLen) != 12) { printf("bad input\n"); fflush(stdout); continue; }
    memset(mem, 0, MEM_SIZE);
    if (strcmp(memHex, "-") != 0) unhex(memHex, mem, MEM_SIZE);
    unsigned char *p = page;
    *p++ = 0x60;                                                   /* pushad */
    *p++ = 0x89; *p++ = 0x25; put32(&p, (uint32_t)&savedEsp);      /* mov [savedEsp], esp */
    *p++ = 0xFF; *p++ = 0x35; put32(&p, (uint32_t)&regsIn[8]);     /* push dword [in.eflags] */
    *p++ = 0x9D;                                                   /* popfd */
    *p++ = 0x8B; *p++ = 0x25; put32(&p, (uint32_t)&regsIn[4]);     /* mov esp, [in.esp] */
    static const unsigned char loadOp[8] = { 0x05, 0x0D, 0x15, 0x1D, 0, 0x2D, 0x35, 0x3D };
    for (int r = 0; r < 8; r++) if (r != 4) { *p++ = 0x8B; *p++ = loadOp[r]; put32(&p, (uint32_t)&regsIn[r]); }
    uint32_t codeAt = CODE_BASE + (uint32_t)(p - page);
    int codeLen = unhex(codeHex, p, 8192);
    p += codeLen;
    /* The guest's stack is never touched: flags are saved on the host stack. */
    for (int r = 0; r < 8; r++) { *p++ = 0x89; *p++ = loadOp[r == 4 ? 0 : r] + (r == 4 ? 0x20 : 0); put32(&p, (uint32_t)&regsOut[r]); }
    *p++ = 0x8B; *p++ = 0x25; put32(&p, (uint32_t)&savedEsp);      /* mov esp, [savedEsp] */
    *p++ = 0x9C;                                                   /* pushfd */
    *p++ = 0x8F; *p++ = 0x05; put32(&p, (uint32_t)&regsOut[8]);    /* pop dword [out.eflags] */
    *p++ = 0x61; *p++ = 0xC3;                                      /* popad; ret */
    faultVector = 0xff; faultEip = faultErr = faultAddr = 0;
    if (sigsetjmp(jb, 1) == 0) ((void (*)(void))page)();
    else __asm__ volatile("cld; push %%ds; pop %%es" ::: "memory");
    int faulted = faultVector != 0xff;
    printf("%x %x %x %x %x %x %x %x %x %x %x %x %x ", regsOut[0], regsOut[1], regsOut[2], regsOut[3], regsOut[4], regsOut[5],
           regsOut[6], regsOut[7], regsOut[8], faultVector, faulted ? faultEip - codeAt : 0, faulted ? faultErr : 0,
           faulted ? faultAddr : 0);
    if (outLen == 0) putchar('-');
    static char hexOut[2 * MEM_SIZE + 1];
    unsigned n = outLen < MEM_SIZE ? outLen : MEM_SIZE;
    for (unsigned i = 0; i < n; i++) { hexOut[2 * i] = "0123456789abcdef"[mem[i] >> 4]; hexOut[2 * i + 1] = "0123456789abcdef"[mem[i] & 15]; }
    fwrite(hexOut, 1, 2 * n, stdout);
    putchar('\n');
    fflush(stdout);
  }
  return 0;
}
