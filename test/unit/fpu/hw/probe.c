/* Runs x87 code on the real CPU for test fixtures (dev tool; needs gcc -m32).
   stdin, one case per line: CODEHEX STATEHEX(108 bytes FRSTOR image) MEMHEX OUTLEN EFLAGSHEX
   stdout, one line per case: STATEHEX(FNSAVE image) MEMHEX(OUTLEN bytes) EFLAGS EAX SIGNAL CODEADDR MEMADDR */
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static unsigned char mem[4096] __attribute__((aligned(64)));
static unsigned char stIn[108], stOut[108];
static uint32_t eflOut, eaxOut;
static sigjmp_buf jb;

static void onSignal(int sig, siginfo_t *si, void *uc) { (void)si; (void)uc; siglongjmp(jb, sig); }

static int unhex(const char *s, unsigned char *out, int max) {
  int n = 0;
  while (s[0] && s[1] && n < max) { unsigned v; sscanf(s, "%2x", &v); out[n++] = v; s += 2; }
  return n;
}

static void put32(unsigned char **p, uint32_t v) { memcpy(*p, &v, 4); *p += 4; }

int main(void) {
  unsigned char *page = mmap(0, 4096, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  struct sigaction sa; memset(&sa, 0, sizeof sa); sa.sa_sigaction = onSignal; sa.sa_flags = SA_SIGINFO | SA_NODEFER;
  sigaction(SIGFPE, &sa, 0); sigaction(SIGILL, &sa, 0); sigaction(SIGSEGV, &sa, 0); sigaction(SIGBUS, &sa, 0);
  static char line[65536], codeHex[4096], stHex[512], memHex[16384];
  while (fgets(line, sizeof line, stdin)) {
    unsigned outLen, eflIn;
    if (sscanf(line, "%4095s %511s %16383s %u %x", codeHex, stHex, memHex, &outLen, &eflIn) != 5) continue;
    unsigned char code[2048];
    int codeLen = unhex(codeHex, code, sizeof code);
    unhex(stHex, stIn, 108);
    memset(mem, 0, sizeof mem);
    if (strcmp(memHex, "-") != 0) unhex(memHex, mem, sizeof mem);
    unsigned char *p = page;
    *p++ = 0x60;                                  /* pushad */
    *p++ = 0xDB; *p++ = 0xE3;                     /* fninit */
    *p++ = 0xDD; *p++ = 0x25; put32(&p, (uint32_t)stIn); /* frstor [stIn] */
    *p++ = 0xBB; put32(&p, (uint32_t)mem);        /* mov ebx, mem */
    *p++ = 0x31; *p++ = 0xC0;                     /* xor eax, eax */
    *p++ = 0x68; put32(&p, eflIn); *p++ = 0x9D;   /* push imm; popfd */
    unsigned char *codeAt = p;
    memcpy(p, code, codeLen); p += codeLen;
    *p++ = 0x9C; *p++ = 0x8F; *p++ = 0x05; put32(&p, (uint32_t)&eflOut); /* pushfd; pop [eflOut] */
    *p++ = 0xA3; put32(&p, (uint32_t)&eaxOut);    /* mov [eaxOut], eax */
    *p++ = 0xDD; *p++ = 0x35; put32(&p, (uint32_t)stOut); /* fnsave [stOut] */
    *p++ = 0x61; *p++ = 0xC3;                     /* popad; ret */
    int sig = sigsetjmp(jb, 1);
    if (sig == 0) {
      ((void (*)(void))page)();
    } else {
      __asm__ volatile("fnsave %0" : "=m"(stOut));
      eflOut = 0; eaxOut = 0;
    }
    __asm__ volatile("fninit");
    for (int i = 0; i < 108; i++) printf("%02x", stOut[i]);
    printf(" ");
    for (unsigned i = 0; i < outLen; i++) printf("%02x", mem[i]);
    if (outLen == 0) printf("-");
    printf(" %08x %08x %d %08x %08x\n", eflOut, eaxOut, sig, (uint32_t)codeAt, (uint32_t)mem);
    fflush(stdout);
  }
  return 0;
}
