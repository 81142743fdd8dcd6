/*
 * A 32-bit program that uses LDT segments through modify_ldt(2), as Wine, DOSEMU and old
 * threading libraries do. It runs in the guest (test/integration/ldt.test.ts) and prints one
 * line per check, then "ldt: all checks passed" and exits 0, or exits 1 at the first failure.
 *
 *   entry 0: a 32-bit data segment over `data`, limit 4 KiB, loaded into FS;
 *   entry 1: a 16-bit data segment (needs CONFIG_X86_16BIT) over `data + 16`, loaded into ES;
 *   entry 2: a flat 32-bit code segment, the target of a far call;
 *   a read past entry 0's limit is SIGSEGV, and modify_ldt(0) reads the table back.
 */
#include <asm/ldt.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

static uint32_t data[1024] __attribute__((aligned(4096)));
static sigjmp_buf onFault;
static volatile int faultSignal;

#define SELECTOR(entry) ((entry) << 3 | 4 | 3) /* TI = LDT, RPL 3 */

static int fail(const char *what) {
  printf("ldt: FAIL %s\n", what);
  return 1;
}

static int setEntry(unsigned entry, void *base, unsigned limit, int inPages, int is32, int contents) {
  struct user_desc d;
  memset(&d, 0, sizeof d);
  d.entry_number = entry;
  d.base_addr = (unsigned long)base;
  d.limit = limit;
  d.limit_in_pages = inPages;
  d.seg_32bit = is32;
  d.contents = contents;
  d.useable = 1;
  return syscall(SYS_modify_ldt, 1, &d, sizeof d);
}

static void segv(int sig) {
  faultSignal = sig;
  siglongjmp(onFault, 1);
}

/* The far-call target: it runs with CS = the LDT code selector and returns with LRET. */
extern void farTarget(void);
__asm__(".text\n"
        "farTarget:\n"
        "  movl %cs, %eax\n"
        "  lret\n");

int main(void) {
  setvbuf(stdout, NULL, _IONBF, 0);
  for (unsigned i = 0; i < 1024; i++) data[i] = 0x10001u * i ^ 0xa5a5a5a5u;

  if (setEntry(0, data, 0xfff, 0, 1, MODIFY_LDT_CONTENTS_DATA) != 0) return fail("modify_ldt entry 0 (32-bit data)");
  if (setEntry(1, (char *)data + 16, 0xff, 0, 0, MODIFY_LDT_CONTENTS_DATA) != 0) return fail("modify_ldt entry 1 (16-bit data)");
  if (setEntry(2, 0, 0xfffff, 1, 1, MODIFY_LDT_CONTENTS_CODE) != 0) return fail("modify_ldt entry 2 (4 GiB code)");
  printf("ldt: modify_ldt wrote 3 entries\n");

  /* FS: read and write through the 32-bit segment. */
  uint32_t got, fsSel = SELECTOR(0);
  __asm__ volatile("movl %1, %%fs\n\tmovl %%fs:8, %0" : "=r"(got) : "r"(fsSel) : "memory");
  if (got != data[2]) return fail("FS:8 does not read data[2]");
  __asm__ volatile("movl %0, %%fs:0xffc" : : "r"(0x12345678u) : "memory");
  if (data[1023] != 0x12345678u) return fail("FS:0xffc does not write data[1023]");
  uint32_t readSel;
  __asm__ volatile("movl %%fs, %0" : "=r"(readSel));
  printf("ldt: fs=%#x reads and writes data (fs:8=%#x)\n", readSel & 0xffff, got);

  /* ES: a 16-bit segment based at data + 16. */
  uint32_t esSel = SELECTOR(1);
  uint16_t w;
  __asm__ volatile("push %%es\n\tmovl %1, %%es\n\tmovw %%es:4, %0\n\tpop %%es" : "=r"(w) : "r"(esSel) : "memory");
  if (w != (uint16_t)data[5]) return fail("16-bit ES:4 does not read data[5]");
  printf("ldt: 16-bit es reads data+16 (es:4=%#x)\n", w);

  /* A far call through the LDT code segment. */
  struct { uint32_t offset; uint16_t sel; } __attribute__((packed)) target = { (uint32_t)farTarget, SELECTOR(2) };
  uint32_t csInside;
  __asm__ volatile("lcall *%1" : "=a"(csInside) : "m"(target) : "memory");
  if ((csInside & 0xffff) != SELECTOR(2)) return fail("far call did not run with the LDT code selector");
  printf("ldt: far call ran with cs=%#x\n", csInside & 0xffff);

  /* Past the limit: a general-protection fault, delivered as SIGSEGV. */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = segv;
  sigaction(SIGSEGV, &sa, NULL);
  if (sigsetjmp(onFault, 1) == 0) {
    __asm__ volatile("movl %1, %%fs\n\tmovl %%fs:0x1000, %0" : "=r"(got) : "r"(fsSel) : "memory");
    return fail("FS:0x1000 past the limit did not fault");
  }
  printf("ldt: fs:0x1000 past the limit gave signal %d\n", faultSignal);

  /* Read the table back. */
  uint64_t table[3];
  long n = syscall(SYS_modify_ldt, 0, table, sizeof table);
  if (n != (long)sizeof table) return fail("modify_ldt(0) did not return 3 entries");
  uint32_t base0 = (uint32_t)(table[0] >> 16 & 0xffffff) | (uint32_t)(table[0] >> 56 << 24);
  if (base0 != (uint32_t)data) return fail("entry 0 read back with the wrong base");
  printf("ldt: modify_ldt(0) read back entry 0 base %#x\n", base0);

  printf("ldt: all checks passed\n");
  return 0;
}
